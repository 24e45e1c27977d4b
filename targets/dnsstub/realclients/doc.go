// Package realclients holds tests only: faultline's DNS server as real
// resolvers and tools see it — dig, glibc's getent and Go's cgo resolver in a
// network namespace whose resolv.conf points at the server, and unbound in
// front of it. Each test skips, saying why, when its tool is not installed
// (.ci/run installs them).
package realclients

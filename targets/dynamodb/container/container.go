// Package container runs a region's DynamoDB as a container: DynamoDB Local
// (the amazon/dynamodb-local image) through testcontainers-go's dynamodb
// module, in memory, its port published on 127.0.0.1 only. It satisfies
// dynamodb.Backend like the embedded backend, so a topology uses either.
//
// Every container is labelled with the run's id (LabelRun), so Cleanup can
// remove what a crashed run left behind.
package container

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcdynamodb "github.com/testcontainers/testcontainers-go/modules/dynamodb"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/faultline-dev/faultline/targets/dynamodb/embedded"
)

// DefaultImage is the DynamoDB Local image faultline runs unless told
// otherwise (--image dynamodb=REF, or images.dynamodb in the experiment).
const DefaultImage = "amazon/dynamodb-local:2.6.1"

// Labels on everything faultline starts.
const (
	LabelApp    = "dev.faultline"        // "true"
	LabelRun    = "dev.faultline.run"    // the run's id
	LabelRole   = "dev.faultline.role"   // "dynamodb" or "client"
	LabelRegion = "dev.faultline.region" // the region a backend serves
)

// containerPort is DynamoDB Local's port inside the container.
const containerPort = "8000/tcp"

// startTimeout bounds a container's start, pull included.
const startTimeout = 2 * time.Minute

func init() {
	// testcontainers-go logs every step to stdout; faultline's output is its
	// own. Errors still come back as errors.
	tclog.SetDefault(tclog.NewNoopLogger())
	// Ryuk, testcontainers' reaper, is an image of its own that offline
	// machines cannot pull; faultline removes what it starts itself and
	// `faultline cleanup` removes what a crash left. Ports are published on
	// 127.0.0.1 only, so that is the host to reach them on. Either can still
	// be set otherwise in the environment.
	setDefaultEnv("TESTCONTAINERS_RYUK_DISABLED", "true")
	setDefaultEnv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
}

func setDefaultEnv(key, value string) {
	if _, ok := os.LookupEnv(key); !ok {
		os.Setenv(key, value)
	}
}

// Options of one backend.
type Options struct {
	Image  string // "" for DefaultImage
	Region string
	RunID  string // labels the container; required
	// Targets are the addresses ("ip:port", port 0 for any) the backend
	// answers on as the NLB's targets: relays to the container's port, one
	// address per target, as instances have.
	Targets []string
	// Writes, when set, sees every write a client makes through the
	// targets (a global table's replicator): the targets are then HTTP
	// proxies that read the requests (tap.go), not byte relays.
	Writes func(embedded.Write)
	// Wrap, when set, puts a layer in front of the container on every
	// target (a region's capacity, targets/dynamodb/capacity): the targets
	// are then HTTP proxies, as with Writes.
	Wrap func(http.Handler) http.Handler
}

// target is one target address: a relay, or a tap.
type target interface {
	Addr() string
	Close() error
}

// Backend is DynamoDB Local in a container.
type Backend struct {
	ctr      *tcdynamodb.DynamoDBContainer
	endpoint string // "127.0.0.1:PORT"
	relays   []target

	once    sync.Once
	termErr error
}

// Run starts the container, waits until it answers HTTP and starts the
// target relays. On any error nothing is left running, and the error says
// what to do about it (see Diagnose).
func Run(ctx context.Context, opts Options) (*Backend, error) {
	if opts.RunID == "" {
		return nil, errors.New("dynamodb container: no run id to label it with")
	}
	image := opts.Image
	if image == "" {
		image = DefaultImage
	}
	if err := CheckDocker(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	ctr, err := tcdynamodb.Run(ctx, image,
		// Not the module's WithSharedDB: it also reuses one container by a
		// fixed name, and every region needs its own.
		testcontainers.WithCmdArgs("-inMemory", "-sharedDb", "-disableTelemetry"),
		testcontainers.WithLabels(Labels(opts.RunID, "dynamodb", map[string]string{LabelRegion: opts.Region})),
		testcontainers.WithHostConfigModifier(publishOnLoopback),
		// The module waits for the listening port with a shell inside the
		// image; an HTTP answer (any status: DynamoDB Local answers 400 to
		// an unsigned GET) needs none and means the server is up.
		testcontainers.WithWaitStrategy(wait.ForHTTP("/").WithPort(containerPort).
			WithStatusCodeMatcher(func(int) bool { return true }).WithStartupTimeout(time.Minute)),
	)
	if err != nil {
		if ctr != nil {
			testcontainers.TerminateContainer(ctr)
		}
		if !strings.Contains(err.Error(), "reaper") && !ImagePresent(context.Background(), image) {
			return nil, imageError(err, "dynamodb", image)
		}
		return nil, Diagnose(err, "dynamodb", image)
	}
	b := &Backend{ctr: ctr}
	if b.endpoint, err = ctr.ConnectionString(ctx); err != nil {
		b.Terminate(context.Background())
		return nil, fmt.Errorf("dynamodb container: its published port: %w", err)
	}
	for _, addr := range opts.Targets {
		var r target
		if opts.Writes != nil || opts.Wrap != nil {
			r, err = startTap(addr, b.endpoint, opts.Region, opts.Writes, opts.Wrap)
		} else {
			r, err = startRelay(addr, b.endpoint)
		}
		if err != nil {
			b.Terminate(context.Background())
			return nil, fmt.Errorf("dynamodb container: target %s: %w", addr, err)
		}
		b.relays = append(b.relays, r)
	}
	return b, nil
}

// publishOnLoopback publishes DynamoDB Local's port on 127.0.0.1 only, on a
// port Docker picks: nothing outside the machine reaches it, and two runs
// never collide.
func publishOnLoopback(hc *container.HostConfig) {
	hc.PortBindings = network.PortMap{
		network.MustParsePort(containerPort): {{HostIP: netip.MustParseAddr("127.0.0.1")}},
	}
}

// Labels are the labels of everything a run starts.
func Labels(runID, role string, extra map[string]string) map[string]string {
	l := map[string]string{LabelApp: "true", LabelRun: runID, LabelRole: role}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// Endpoint is the container's published endpoint, for seeding.
func (b *Backend) Endpoint() string { return "http://" + b.endpoint }

// Addrs are the relays' addresses: the NLB's targets.
func (b *Backend) Addrs() []string {
	addrs := make([]string, len(b.relays))
	for i, r := range b.relays {
		addrs[i] = r.Addr()
	}
	return addrs
}

// ContainerID names the container, for tests and logs.
func (b *Backend) ContainerID() string { return b.ctr.GetContainerID() }

// Terminate closes the relays and removes the container (and its anonymous
// volumes). It is idempotent.
func (b *Backend) Terminate(ctx context.Context) error {
	b.once.Do(func() {
		var errs []error
		for _, r := range b.relays {
			errs = append(errs, r.Close())
		}
		if b.ctr != nil {
			errs = append(errs, testcontainers.TerminateContainer(b.ctr, testcontainers.StopTimeout(5*time.Second)))
		}
		b.termErr = errors.Join(errs...)
	})
	return b.termErr
}

// CheckDocker fails fast, and says what to do, when no Docker daemon answers.
func CheckDocker(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return Diagnose(err, "", "")
	}
	defer cli.Close()
	return nil
}

// ErrNoDocker, ErrImage and ErrPort classify startup failures.
var (
	ErrNoDocker = errors.New("no Docker daemon answers")
	ErrImage    = errors.New("image not found and not pullable")
	ErrPort     = errors.New("port conflict")
)

// Diagnose turns a startup error into one that says what happened and what
// to do. role is "dynamodb" or a client's name: the key of --image.
func Diagnose(err error, role, image string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(strings.ToLower(msg), strings.ToLower(s)) {
				return true
			}
		}
		return false
	}
	switch {
	case has("reaper"):
		return fmt.Errorf("testcontainers' reaper (Ryuk) could not start (%v): faultline removes its containers itself, so leave TESTCONTAINERS_RYUK_DISABLED unset (faultline then disables it) or make the ryuk image available", err)
	case has("rootless Docker not found", "Cannot connect to the Docker daemon", "connect to selected provider",
		"docker.sock: connect", "is the docker daemon running", "dial unix"):
		return fmt.Errorf("%w (%v): start Docker (systemctl start docker, or dockerd &) and check DOCKER_HOST, or run without containers (--backend embedded)", ErrNoDocker, err)
	case has("No such image", "pull access denied", "manifest unknown", "repository does not exist",
		"failed to resolve reference", "not found: manifest", "error pulling image", "lookup registry", "TLS handshake timeout",
		"server misbehaving", "i/o timeout") && image != "":
		return imageError(err, role, image)
	case has("port is already allocated", "address already in use"):
		return fmt.Errorf("%w (%v): another process holds the port; stop it, or let Docker pick the port (faultline publishes on 127.0.0.1 with a port Docker chooses)", ErrPort, err)
	}
	return fmt.Errorf("starting the %s container (%s): %w", role, image, err)
}

// imageError says that image is neither here nor pullable, and what to do.
func imageError(err error, role, image string) error {
	hint := "--backend embedded"
	if role != "dynamodb" {
		hint = "a client that is not a container"
	}
	return fmt.Errorf("%w: %s (%v): pull it where a registry is reachable (docker pull %s), pass --image %s=REF for a registry you can reach or an image built here, or use %s",
		ErrImage, image, err, image, role, hint)
}

// ImagePresent reports whether the Docker daemon has image locally.
func ImagePresent(ctx context.Context, image string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return false
	}
	defer cli.Close()
	_, err = cli.ImageInspect(ctx, image)
	return err == nil
}

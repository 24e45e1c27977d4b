package faultline

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics, in CoreDNS's style (coredns_faultline_*). Labels stay few: no
// client, name or fault id (pods and faults are many; the journal of
// `faultline up` has them).
var (
	shapedAnswers = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: Name, Name: "shaped_answers_total",
		Help: "Answers a faultline rule shaped, by server and rcode (DROPPED: nothing sent).",
	}, []string{"server", "rcode"})
	rulesActive = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: Name, Name: "rules",
		Help: "Rules applied, by source: corefile (fault lines) or control (a faultline up's active DNS faults).",
	}, []string{"source"})
	controlUp = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: Name, Name: "control_up",
		Help: "1 while the control API answers with the token accepted; 0 otherwise (its rules are then dropped).",
	})
	controlErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: Name, Name: "control_errors_total",
		Help: "Failed calls to the control API, by reason: unreachable, token (refused), answer (unexpected), rule (a rule that could not be applied).",
	}, []string{"reason"})
	reportsSent = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: Name, Name: "reports_sent_total",
		Help: "Shaped answers reported to the control API.",
	})
	reportsDropped = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: Name, Name: "reports_dropped_total",
		Help: "Shaped answers not reported: the control API was gone or the queue was full.",
	})
)

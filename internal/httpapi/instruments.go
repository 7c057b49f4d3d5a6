package httpapi

import (
	"database/sql"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlopsdev/mlops/store"
)

// instruments are the API's Prometheus metrics, registered in the registry
// passed to New (no global registry).
type instruments struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
	ingested *prometheus.CounterVec
}

func newInstruments(reg prometheus.Registerer, st *store.Store, ing *store.Ingester) (*instruments, error) {
	m := &instruments{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlops_http_requests_total",
			Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mlops_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mlops_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlops_rows_ingested_total",
			Help: "Rows stored through the API, by table.",
		}, []string{"table"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inflight, m.ingested, poolCollector{st}, ingestCollector{ing}, replicaCollector{st}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *instruments) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *instruments) ingest(table string, n int) {
	m.ingested.WithLabelValues(table).Add(float64(n))
}

// poolCollector reports the database connection pools from store.Stats at
// scrape time. On SQLite the write pool is the single writer connection; on
// PostgreSQL reads and writes share one pool, reported once as "main".
type poolCollector struct{ st *store.Store }

var (
	poolOpen     = prometheus.NewDesc("mlops_db_connections_open", "Open database connections.", []string{"pool"}, nil)
	poolInUse    = prometheus.NewDesc("mlops_db_connections_in_use", "Database connections in use.", []string{"pool"}, nil)
	poolIdle     = prometheus.NewDesc("mlops_db_connections_idle", "Idle database connections.", []string{"pool"}, nil)
	poolMax      = prometheus.NewDesc("mlops_db_connections_max", "Maximum open database connections.", []string{"pool"}, nil)
	poolWaits    = prometheus.NewDesc("mlops_db_connection_waits_total", "Times a request waited for a free connection.", []string{"pool"}, nil)
	poolWaitSecs = prometheus.NewDesc("mlops_db_connection_wait_seconds_total", "Time spent waiting for a free connection.", []string{"pool"}, nil)
)

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolOpen, poolInUse, poolIdle, poolMax, poolWaits, poolWaitSecs} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	read, write := c.st.Stats()
	emit := func(name string, s sql.DBStats) {
		ch <- prometheus.MustNewConstMetric(poolOpen, prometheus.GaugeValue, float64(s.OpenConnections), name)
		ch <- prometheus.MustNewConstMetric(poolInUse, prometheus.GaugeValue, float64(s.InUse), name)
		ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.Idle), name)
		ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxOpenConnections), name)
		ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.WaitCount), name)
		ch <- prometheus.MustNewConstMetric(poolWaitSecs, prometheus.CounterValue, s.WaitDuration.Seconds(), name)
	}
	if c.st.Engine() == store.Postgres {
		emit("main", read)
		return
	}
	emit("read", read)
	emit("write", write)
}

// ingestCollector reports the group-commit writer of single predictions.
type ingestCollector struct{ ing *store.Ingester }

var (
	ingestQueued    = prometheus.NewDesc("mlops_ingest_queued", "Single predictions waiting for the next group commit.", nil, nil)
	ingestBatches   = prometheus.NewDesc("mlops_ingest_batches_total", "Group commits of single predictions.", nil, nil)
	ingestFallbacks = prometheus.NewDesc("mlops_ingest_fallbacks_total", "Group commits that failed and were retried row by row.", nil, nil)
)

func (c ingestCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- ingestQueued
	ch <- ingestBatches
	ch <- ingestFallbacks
}

func (c ingestCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.ing.Stats()
	ch <- prometheus.MustNewConstMetric(ingestQueued, prometheus.GaugeValue, float64(st.Queued))
	ch <- prometheus.MustNewConstMetric(ingestBatches, prometheus.CounterValue, float64(st.Batches))
	ch <- prometheus.MustNewConstMetric(ingestFallbacks, prometheus.CounterValue, float64(st.Fallbacks))
}

// replicaCollector reports the read replicas (DATABASE_REPLICA_URL) as the
// store's last check found them, labelled by host:port.
type replicaCollector struct{ st *store.Store }

var (
	replicaUp      = prometheus.NewDesc("mlops_db_replica_up", "1 when the read replica answers as a standby of the primary.", []string{"replica"}, nil)
	replicaServing = prometheus.NewDesc("mlops_db_replica_serving", "1 when reads go to the read replica (up and within the lag limit).", []string{"replica"}, nil)
	replicaLag     = prometheus.NewDesc("mlops_db_replica_lag_seconds", "How far the read replica is behind the primary, at most (absent when not measured).", []string{"replica"}, nil)
	replicaReads   = prometheus.NewDesc("mlops_db_replica_reads_total", "Reads served by the read replica.", []string{"replica"}, nil)
	replicaMaxLag  = prometheus.NewDesc("mlops_db_replica_max_lag_seconds", "The lag limit of the read replicas (MLOPS_REPLICA_MAX_LAG).", nil, nil)
)

func (c replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{replicaUp, replicaServing, replicaLag, replicaReads, replicaMaxLag} {
		ch <- d
	}
}

func (c replicaCollector) Collect(ch chan<- prometheus.Metric) {
	list := c.st.Replicas()
	if len(list) == 0 {
		return
	}
	ch <- prometheus.MustNewConstMetric(replicaMaxLag, prometheus.GaugeValue, c.st.ReplicaMaxLag().Seconds())
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, r := range list {
		ch <- prometheus.MustNewConstMetric(replicaUp, prometheus.GaugeValue, b(r.State != store.ReplicaDown), r.Addr)
		ch <- prometheus.MustNewConstMetric(replicaServing, prometheus.GaugeValue, b(r.State == store.ReplicaServing), r.Addr)
		if r.Measured {
			ch <- prometheus.MustNewConstMetric(replicaLag, prometheus.GaugeValue, r.Lag.Seconds(), r.Addr)
		}
		ch <- prometheus.MustNewConstMetric(replicaReads, prometheus.CounterValue, float64(r.Reads), r.Addr)
	}
}

/*
 * tools/control/metrics.c - Prometheus text for /metrics (tools/metrics.h).
 *
 * Names follow the Prometheus conventions that promtool lints: a
 * "ringcap_" prefix, base units in the name (_bytes), counters ending in
 * _total, one family per quantity with labels for its parts (peer,
 * direction, side, kind) instead of one name per part.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "engine/eng.h"
#include "tools/capture/sink.h"
#include "tools/control/metrics.h"

struct out {
	char *p;
	size_t cap, n;
	bool full;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	if (o->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(o->p + o->n, o->cap - o->n, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= o->cap - o->n) {
		o->full = true;
		return;
	}
	o->n += (size_t)w;
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP ringcap_%s %s\n# TYPE ringcap_%s %s\n", name, help, name, type);
}

/* A family with a single unlabelled sample. */
static void one(struct out *o, const char *name, const char *type, const char *help, uint64_t v)
{
	family(o, name, type, help);
	put(o, "ringcap_%s %llu\n", name, (unsigned long long)v);
}

static void labelled(struct out *o, const char *name, const char *label, const char *value,
		     uint64_t v)
{
	put(o, "ringcap_%s{%s=\"%s\"} %llu\n", name, label, value, (unsigned long long)v);
}

static void connections(struct out *o, const struct eng_counters *k)
{
	one(o, "connections_open", "gauge", "Client connections open now.", k->conns_open);
	one(o, "connections_accepted_total", "counter", "Client connections accepted.",
	    k->conns_accepted);
	one(o, "connections_rejected_total", "counter",
	    "Client connections answered 503 because a worker was at --max-conns.", k->conns_rejected);
	one(o, "connections_unanswered_total", "counter",
	    "Of the rejected: closed without a 503, a flood beyond the answer slots.",
	    k->conns_unanswered);
	one(o, "connections_denied_total", "counter",
	    "Client connections closed at accept: address outside --allow.", k->conns_denied);
	one(o, "requests_total", "counter", "Request heads parsed.", k->requests);
	one(o, "responses_total", "counter", "Response heads forwarded to clients.", k->responses);
	one(o, "tunnels_total", "counter", "CONNECT tunnels (blind or intercepted).", k->tunnels);
	one(o, "upgrades_total", "counter", "Protocol upgrades (101, WebSocket) tunnelled through.",
	    k->upgrades);
	one(o, "websocket_messages_total", "counter",
	    "WebSocket messages seen on observed upgrades (both directions).", k->ws_messages);
	one(o, "websocket_unobserved_total", "counter",
	    "WebSocket upgrades not observed (or not inflated): every observer was busy.",
	    k->ws_unobserved);
	one(o, "websocket_broken_total", "counter",
	    "WebSocket directions whose frames broke the protocol: tunnelled on, not parsed.",
	    k->ws_broken);
	family(o, "received_bytes_total", "counter", "Bytes received, by peer.");
	labelled(o, "received_bytes_total", "peer", "client", k->bytes_from_clients);
	labelled(o, "received_bytes_total", "peer", "upstream", k->bytes_from_upstreams);
	family(o, "sent_bytes_total", "counter", "Bytes queued for sending, by peer.");
	labelled(o, "sent_bytes_total", "peer", "client", k->bytes_to_clients);
	labelled(o, "sent_bytes_total", "peer", "upstream", k->bytes_to_upstreams);
	one(o, "upstream_connects_total", "counter", "Upstream connections opened.",
	    k->upstream_connects);
	one(o, "upstream_reused_total", "counter",
	    "Requests sent on a pooled (kept-alive) upstream connection.", k->upstream_reused);
	one(o, "zerocopy_sends_total", "counter", "Zero-copy sends (IORING_OP_SEND_ZC).", k->zc_sends);
	one(o, "zerocopy_copied_total", "counter",
	    "Zero-copy sends the kernel reported as copied anyway.", k->zc_copied);
}

static void tls_and_errors(struct out *o, const struct eng_counters *k)
{
	family(o, "tls_handshakes_total", "counter", "Completed TLS handshakes, by side.");
	labelled(o, "tls_handshakes_total", "side", "client", k->tls_handshakes);
	labelled(o, "tls_handshakes_total", "side", "upstream", k->tls_upstream_handshakes);
	family(o, "tls_handshake_failures_total", "counter", "Failed TLS handshakes, by side.");
	labelled(o, "tls_handshake_failures_total", "side", "client", k->tls_failures);
	labelled(o, "tls_handshake_failures_total", "side", "upstream", k->tls_upstream_failures);
	one(o, "tls_certificate_rejections_total", "counter",
	    "Client handshakes that failed on the minted certificate (CA not installed).",
	    k->tls_cert_rejected);
	family(o, "errors_total", "counter", "Exchanges that ended in an error, by kind.");
	for (int i = 1; i < ENG_ERR_COUNT; i++)
		labelled(o, "errors_total", "kind", eng_err_name((enum eng_err)i), k->errors[i]);
	one(o, "h2_connections_total", "counter", "Client connections that spoke HTTP/2.",
	    k->h2_conns);
	one(o, "h2_streams_total", "counter", "HTTP/2 request streams from clients.", k->h2_streams);
	family(o, "h2_refused_total", "counter",
	       "HTTP/2 misbehaviour refused (stream reset or connection closed), by kind.");
	for (int i = 0; i < ENG_H2_BAD_COUNT; i++)
		labelled(o, "h2_refused_total", "kind", eng_h2_bad_name((enum eng_h2_bad)i),
			 k->h2_bad[i]);
}

static void capture(struct out *o, const struct rc_capture_stats *cs)
{
	one(o, "capture_exchanges_written_total", "counter", "Exchanges written to the capture store.",
	    cs->written);
	one(o, "capture_exchanges_dropped_total", "counter",
	    "Exchanges the capture store could not take (buffers full).", cs->dropped);
	one(o, "capture_exchanges_filtered_total", "counter", "Exchanges the capture filter left out.",
	    cs->filtered);
	one(o, "capture_segment_bytes_total", "counter", "Bytes written to segment files.",
	    cs->bytes);
	one(o, "capture_frames_over_budget_total", "counter",
	    "Frames stored uncompressed because the zstd budget (run --zstd-budget) was spent.",
	    cs->over_budget);
	one(o, "capture_failed", "gauge",
	    "1 when a store write failed and capture is off until the next session.",
	    cs->failed ? 1 : 0);
}

long rc_metrics_text(const struct eng_counters *k, const struct rc_capture_stats *cs, char *out,
		     size_t cap)
{
	struct out o = { .p = out, .cap = cap };
	if (cap == 0)
		return -ENOSPC;
	out[0] = '\0';
	connections(&o, k);
	tls_and_errors(&o, k);
	if (cs != NULL)
		capture(&o, cs);
	return o.full ? -ENOSPC : (long)o.n;
}

/* tests/tools/control/metrics_test.c: the /metrics text (tools/metrics.c). Every
 * engine counter and capture figure appears once with its own value
 * (distinct per field, so a swapped field is caught), every sample has a
 * HELP and a TYPE line before it, counters end in _total, the capture
 * families come and go with the stats pointer, and every buffer size
 * short of the text gives -ENOSPC without writing past it. When
 * promtool is installed, Prometheus's own linter must accept the text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/eng.h"
#include "tools/capture/sink.h"
#include "tools/control/metrics.h"
#include "tests/check.h"

static void has_sample(const char *text, const char *sample, unsigned long long v)
{
	char line[256];
	snprintf(line, sizeof(line), "\n%s %llu\n", sample, v);
	CHECK_MSG(strstr(text, line) != NULL, "missing sample: %.*s",
		  (int)strlen(line) - 2, line + 1);
}

/* Every sample line's family has HELP and TYPE before it; counters end
 * in _total; names are ringcap_ snake case. Returns samples seen. */
static size_t check_structure(char *text)
{
	char family[128] = "", type[16] = "";
	bool help = false;
	size_t samples = 0;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char name[128], t[16];
		if (sscanf(l, "# HELP %127s", name) == 1) {
			snprintf(family, sizeof(family), "%s", name);
			help = true;
			type[0] = '\0';
			continue;
		}
		if (sscanf(l, "# TYPE %127s %15s", name, t) == 2) {
			REQUIRE(help && strcmp(name, family) == 0);
			snprintf(type, sizeof(type), "%s", t);
			continue;
		}
		size_t n = strcspn(l, "{ ");
		REQUIRE(n > 0 && n == strlen(family) && strncmp(l, family, n) == 0 && type[0]);
		CHECK(strncmp(l, "ringcap_", 8) == 0 && strspn(l, "abcdefghijklmnopqrstuvwxyz0123456789_") == n);
		if (strcmp(type, "counter") == 0)
			REQUIRE(n > 6 && strncmp(l + n - 6, "_total", 6) == 0);
		else
			CHECK(strcmp(type, "gauge") == 0);
		samples++;
	}
	return samples;
}

static bool have_promtool(void)
{
	const char *path = getenv("PATH");
	char buf[4096];
	for (const char *p = path ? path : ""; *p;) {
		size_t n = strcspn(p, ":");
		snprintf(buf, sizeof(buf), "%.*s/promtool", (int)n, p);
		if (access(buf, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

/* The counters set one by one, then the whole text checked line by line:
 * a table read top to bottom, kept in one function. */
int main(void)
{
	struct eng_counters k;
	uint64_t *f = (uint64_t *)&k;
	for (size_t i = 0; i < sizeof(k) / sizeof(*f); i++)
		f[i] = 1000 + i * 7; /* distinct per field */
	struct rc_capture_stats cs = { .written = 51, .dropped = 52, .filtered = 53, .over_budget = 55,
				       .bytes = 54, .failed = true };
	static char text[RC_METRICS_MAX];
	long n = rc_metrics_text(&k, &cs, text, sizeof(text));
	REQUIRE(n > 0 && (size_t)n == strlen(text));
	has_sample(text, "ringcap_connections_open", k.conns_open);
	has_sample(text, "ringcap_connections_accepted_total", k.conns_accepted);
	has_sample(text, "ringcap_connections_rejected_total", k.conns_rejected);
	has_sample(text, "ringcap_connections_denied_total", k.conns_denied);
	has_sample(text, "ringcap_connections_unanswered_total", k.conns_unanswered);
	has_sample(text, "ringcap_requests_total", k.requests);
	has_sample(text, "ringcap_responses_total", k.responses);
	has_sample(text, "ringcap_tunnels_total", k.tunnels);
	has_sample(text, "ringcap_upgrades_total", k.upgrades);
	has_sample(text, "ringcap_websocket_messages_total", k.ws_messages);
	has_sample(text, "ringcap_websocket_unobserved_total", k.ws_unobserved);
	has_sample(text, "ringcap_websocket_broken_total", k.ws_broken);
	has_sample(text, "ringcap_received_bytes_total{peer=\"client\"}", k.bytes_from_clients);
	has_sample(text, "ringcap_received_bytes_total{peer=\"upstream\"}", k.bytes_from_upstreams);
	has_sample(text, "ringcap_sent_bytes_total{peer=\"client\"}", k.bytes_to_clients);
	has_sample(text, "ringcap_sent_bytes_total{peer=\"upstream\"}", k.bytes_to_upstreams);
	has_sample(text, "ringcap_upstream_connects_total", k.upstream_connects);
	has_sample(text, "ringcap_upstream_reused_total", k.upstream_reused);
	has_sample(text, "ringcap_zerocopy_sends_total", k.zc_sends);
	has_sample(text, "ringcap_zerocopy_copied_total", k.zc_copied);
	has_sample(text, "ringcap_tls_handshakes_total{side=\"client\"}", k.tls_handshakes);
	has_sample(text, "ringcap_tls_handshakes_total{side=\"upstream\"}", k.tls_upstream_handshakes);
	has_sample(text, "ringcap_tls_handshake_failures_total{side=\"client\"}", k.tls_failures);
	has_sample(text, "ringcap_tls_handshake_failures_total{side=\"upstream\"}",
		   k.tls_upstream_failures);
	has_sample(text, "ringcap_tls_certificate_rejections_total", k.tls_cert_rejected);
	for (int e = 1; e < ENG_ERR_COUNT; e++) {
		char s[128];
		snprintf(s, sizeof(s), "ringcap_errors_total{kind=\"%s\"}", eng_err_name((enum eng_err)e));
		has_sample(text, s, k.errors[e]);
	}
	has_sample(text, "ringcap_h2_connections_total", k.h2_conns);
	has_sample(text, "ringcap_h2_streams_total", k.h2_streams);
	for (int b = 0; b < ENG_H2_BAD_COUNT; b++) {
		char s[128];
		snprintf(s, sizeof(s), "ringcap_h2_refused_total{kind=\"%s\"}",
			 eng_h2_bad_name((enum eng_h2_bad)b));
		has_sample(text, s, k.h2_bad[b]);
	}
	has_sample(text, "ringcap_capture_exchanges_written_total", 51);
	has_sample(text, "ringcap_capture_exchanges_dropped_total", 52);
	has_sample(text, "ringcap_capture_exchanges_filtered_total", 53);
	has_sample(text, "ringcap_capture_segment_bytes_total", 54);
	has_sample(text, "ringcap_capture_frames_over_budget_total", 55);
	has_sample(text, "ringcap_capture_failed", 1);

	if (have_promtool()) {
		FILE *p = popen("promtool check metrics", "w");
		REQUIRE(p != NULL);
		fwrite(text, 1, (size_t)n, p);
		int st = pclose(p);
		CHECK(st == 0);
		printf("promtool check metrics: accepted\n");
	} else {
		printf("promtool absent: lint part skipped (apt-get install prometheus)\n");
	}
	/* 25 engine samples (3 of them WebSocket) + errors + h2 (2 + kinds)
	 * + 6 capture */
	size_t want = 25 + (ENG_ERR_COUNT - 1) + 2 + ENG_H2_BAD_COUNT + 6;
	char copy[RC_METRICS_MAX];
	memcpy(copy, text, (size_t)n + 1);
	CHECK(check_structure(copy) == want);

	static char without[RC_METRICS_MAX];
	long m = rc_metrics_text(&k, NULL, without, sizeof(without));
	REQUIRE(m > 0 && m < n && strstr(without, "capture") == NULL);
	CHECK(strncmp(without, text, (size_t)m) == 0); /* same text up to the capture part */
	CHECK(check_structure(without) == want - 6);

	/* every short buffer: -ENOSPC, nothing written past it */
	static char small[RC_METRICS_MAX + 16];
	for (size_t cap = 0; cap <= (size_t)n; cap++) {
		memset(small, 0x5a, sizeof(small));
		CHECK(rc_metrics_text(&k, &cs, small, cap) == -ENOSPC);
		for (size_t i = cap; i < sizeof(small); i++)
			CHECK(small[i] == 0x5a);
	}
	CHECK(rc_metrics_text(&k, &cs, small, (size_t)n + 1) == n);
	printf("metrics: %ld bytes\n", n);
	return check_done("metrics");
}

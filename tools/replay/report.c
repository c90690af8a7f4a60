/*
 * tools/replay/report.c - the replay report: counters merged from every
 * loop thread, printed as text or as one JSON object.
 */
#include <stdio.h>
#include <string.h>

#include "tools/lib/json.h"
#include "tools/replay/replay.h"

static const char *const err_names[RP_E_KINDS] = {
	"connect", "timeout", "reset", "tls", "dns", "protocol"
};

const char *rp_err_name(unsigned kind)
{
	return kind < RP_E_KINDS ? err_names[kind] : "?";
}

void rp_stats_init(struct rp_stats *s)
{
	memset(s, 0, sizeof(*s));
	rp_hist_init(&s->lat);
	rp_hist_init(&s->lag);
}

void rp_stats_merge(struct rp_stats *d, const struct rp_stats *s)
{
	atomic_fetch_add(&d->sent, atomic_load(&s->sent));
	atomic_fetch_add(&d->done, atomic_load(&s->done));
	atomic_fetch_add(&d->failed, atomic_load(&s->failed));
	d->completed += s->completed;
	for (unsigned k = 0; k < RP_E_KINDS; k++) {
		d->errors[k] += s->errors[k];
		if (d->err_msg[k][0] == '\0')
			memcpy(d->err_msg[k], s->err_msg[k], sizeof(d->err_msg[k]));
	}
	d->warmup_sent += s->warmup_sent;
	d->unanswered += s->unanswered;
	d->unsent += s->unsent;
	d->retried += s->retried;
	for (unsigned k = 0; k < 6; k++)
		d->status[k] += s->status[k];
	d->bytes_sent += s->bytes_sent;
	d->bytes_recv += s->bytes_recv;
	d->connects += s->connects;
	d->recorded += s->recorded;
	d->record_dropped += s->record_dropped;
	rp_hist_merge(&d->lat, &s->lat);
	rp_hist_merge(&d->lag, &s->lag);
	rp_diff_merge(&d->diff, &s->diff);
}

static uint64_t errors_total(const struct rp_stats *s)
{
	uint64_t n = 0;
	for (unsigned k = 0; k < RP_E_KINDS; k++)
		n += s->errors[k];
	return n;
}

static double per_s(uint64_t n, uint64_t ns)
{
	return ns ? (double)n * 1e9 / (double)ns : 0.0;
}

static const double qs[] = { 0.5, 0.9, 0.99, 0.999 };
static const char *const qnames[] = { "p50", "p90", "p99", "p99.9" };

static void text_diff(const struct rp_diff *d)
{
	printf("diff against the recording: %llu compared, %llu same", (unsigned long long)d->compared,
	       (unsigned long long)d->same);
	for (unsigned k = 0; k < RP_DIFF_KINDS; k++)
		printf(", %s differs %llu", rp_diff_kind_name(k), (unsigned long long)d->count[k]);
	printf("\n");
	for (unsigned k = 0; k < RP_DIFF_KINDS; k++)
		for (uint32_t i = 0; i < d->nex[k]; i++) {
			const struct rp_diff_example *e = &d->ex[k][i];
			if (k == RP_DIFF_BODY)
				printf("  %-6s #%llu %s: crc32c %08llx, got %08llx\n", rp_diff_kind_name(k),
				       (unsigned long long)e->id, e->url, (unsigned long long)e->want,
				       (unsigned long long)e->got);
			else
				printf("  %-6s #%llu %s: recorded %llu, got %llu\n", rp_diff_kind_name(k),
				       (unsigned long long)e->id, e->url, (unsigned long long)e->want,
				       (unsigned long long)e->got);
		}
}

void rp_report_text(const struct rp_result *r, const struct rp_cfg *cfg)
{
	const struct rp_stats *s = &r->total;
	printf("sent %llu requests from %llu selected exchanges on %u connections, %u threads%s\n",
	       (unsigned long long)atomic_load(&s->sent), (unsigned long long)r->src.selected,
	       r->slots, r->threads, r->interrupted ? " (interrupted)" : "");
	printf("answered %llu, errors %llu (", (unsigned long long)s->completed,
	       (unsigned long long)errors_total(s));
	for (unsigned k = 0; k < RP_E_KINDS; k++)
		printf("%s%s %llu", k ? ", " : "", rp_err_name(k), (unsigned long long)s->errors[k]);
	printf(")");
	if (s->warmup_sent)
		printf(", %llu in warm-up", (unsigned long long)s->warmup_sent);
	if (s->unsent || s->unanswered)
		printf(", not sent %llu, unanswered %llu", (unsigned long long)s->unsent,
		       (unsigned long long)s->unanswered);
	printf("\n");
	for (unsigned k = 0; k < RP_E_KINDS; k++)
		if (s->err_msg[k][0])
			printf("  first %s error: %s\n", rp_err_name(k), s->err_msg[k]);
	printf("%.1f req/s over %.2f s, sent %llu B, received %llu B; status 2xx %llu 3xx %llu "
	       "4xx %llu 5xx %llu\n", per_s(s->completed, r->measured_ns), (double)r->measured_ns / 1e9,
	       (unsigned long long)s->bytes_sent, (unsigned long long)s->bytes_recv,
	       (unsigned long long)s->status[2], (unsigned long long)s->status[3],
	       (unsigned long long)s->status[4], (unsigned long long)s->status[5]);
	printf("latency from the scheduled send:");
	for (unsigned i = 0; i < 4; i++)
		printf(" %s %.3f ms", qnames[i], (double)rp_hist_quantile(&s->lat, qs[i]) / 1e6);
	printf(" max %.3f ms\n", (double)s->lat.max / 1e6);
	if (s->lag.n)
		printf("schedule lag: p99 %.3f ms, max %.3f ms\n",
		       (double)rp_hist_quantile(&s->lag, 0.99) / 1e6, (double)s->lag.max / 1e6);
	text_diff(&s->diff);
	const struct rp_source_stats *ss = &r->src;
	if (ss->skipped_tunnel || ss->skipped_cut || ss->unreadable || ss->index_damaged)
		printf("not replayed: %llu tunnels, %llu with a request body not stored whole, %llu "
		       "unreadable (damaged), %llu damaged index entries%s%s\n",
		       (unsigned long long)ss->skipped_tunnel, (unsigned long long)ss->skipped_cut,
		       (unsigned long long)ss->unreadable, (unsigned long long)ss->index_damaged,
		       ss->first_damage[0] ? "; first: " : "", ss->first_damage);
	if (r->record_id[0])
		printf("recorded %llu exchanges into session %s (%s)%s\n",
		       (unsigned long long)s->recorded, cfg->record, r->record_id,
		       s->record_dropped ? " (some dropped)" : "");
}

static void json_hist(struct rc_buf *b, const char *name, const struct rp_hist *h)
{
	rc_buf_printf(b, ",\"%s\":{\"count\":%llu", name, (unsigned long long)h->n);
	for (unsigned i = 0; i < 4; i++)
		rc_buf_printf(b, ",\"%s_ms\":%.3f", qnames[i], (double)rp_hist_quantile(h, qs[i]) / 1e6);
	rc_buf_printf(b, ",\"max_ms\":%.3f,\"mean_ms\":%.3f}", (double)h->max / 1e6,
		      h->n ? (double)h->sum / (double)h->n / 1e6 : 0.0);
}

static void json_diff(struct rc_buf *b, const struct rp_diff *d)
{
	rc_buf_printf(b, ",\"diff\":{\"compared\":%llu,\"same\":%llu",
		      (unsigned long long)d->compared, (unsigned long long)d->same);
	for (unsigned k = 0; k < RP_DIFF_KINDS; k++) {
		rc_buf_printf(b, ",\"%s\":{\"count\":%llu,\"examples\":[", rp_diff_kind_name(k),
			      (unsigned long long)d->count[k]);
		for (uint32_t i = 0; i < d->nex[k]; i++) {
			const struct rp_diff_example *e = &d->ex[k][i];
			rc_buf_printf(b, "%s{\"id\":%llu,\"url\":", i ? "," : "", (unsigned long long)e->id);
			rc_buf_jstr(b, e->url, strlen(e->url));
			rc_buf_printf(b, ",\"recorded\":%llu,\"got\":%llu}", (unsigned long long)e->want,
				      (unsigned long long)e->got);
		}
		rc_buf_puts(b, "]}");
	}
	rc_buf_puts(b, "}");
}

void rp_report_json(const struct rp_result *r, const struct rp_cfg *cfg)
{
	const struct rp_stats *s = &r->total;
	struct rc_buf b = { 0 };
	rc_buf_printf(&b, "{\"selected\":%llu,\"sent\":%llu,\"completed\":%llu,\"errors\":%llu,"
		      "\"interrupted\":%s,\"threads\":%u,\"connections\":%u,\"groups\":%llu",
		      (unsigned long long)r->src.selected, (unsigned long long)atomic_load(&s->sent),
		      (unsigned long long)s->completed, (unsigned long long)errors_total(s),
		      r->interrupted ? "true" : "false", r->threads, r->slots,
		      (unsigned long long)r->src.groups);
	rc_buf_puts(&b, ",\"errors_by_kind\":{");
	for (unsigned k = 0; k < RP_E_KINDS; k++)
		rc_buf_printf(&b, "%s\"%s\":%llu", k ? "," : "", rp_err_name(k),
			      (unsigned long long)s->errors[k]);
	rc_buf_puts(&b, "},\"first_errors\":{");
	for (unsigned k = 0, n = 0; k < RP_E_KINDS; k++)
		if (s->err_msg[k][0]) {
			rc_buf_printf(&b, "%s\"%s\":", n++ ? "," : "", rp_err_name(k));
			rc_buf_jstr(&b, s->err_msg[k], strlen(s->err_msg[k]));
		}
	rc_buf_printf(&b, "},\"warmup_sent\":%llu,\"unsent\":%llu,\"unanswered\":%llu,\"retried\":%llu"
		      ",\"connects\":%llu,\"elapsed_s\":%.3f,\"measured_s\":%.3f,\"req_per_s\":%.1f"
		      ",\"bytes_sent\":%llu,\"bytes_received\":%llu",
		      (unsigned long long)s->warmup_sent, (unsigned long long)s->unsent,
		      (unsigned long long)s->unanswered, (unsigned long long)s->retried,
		      (unsigned long long)s->connects, (double)r->elapsed_ns / 1e9,
		      (double)r->measured_ns / 1e9, per_s(s->completed, r->measured_ns),
		      (unsigned long long)s->bytes_sent, (unsigned long long)s->bytes_recv);
	rc_buf_printf(&b, ",\"status\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,"
		      "\"5xx\":%llu}", (unsigned long long)s->status[1], (unsigned long long)s->status[2],
		      (unsigned long long)s->status[3], (unsigned long long)s->status[4],
		      (unsigned long long)s->status[5]);
	json_hist(&b, "latency", &s->lat);
	json_hist(&b, "schedule_lag", &s->lag);
	json_diff(&b, &s->diff);
	const struct rp_source_stats *ss = &r->src;
	rc_buf_printf(&b, ",\"not_replayed\":{\"tunnels\":%llu,\"body_not_stored\":%llu,"
		      "\"unreadable\":%llu,\"index_damaged\":%llu,\"first_damage\":",
		      (unsigned long long)ss->skipped_tunnel, (unsigned long long)ss->skipped_cut,
		      (unsigned long long)ss->unreadable, (unsigned long long)ss->index_damaged);
	rc_buf_jstr(&b, ss->first_damage, strlen(ss->first_damage));
	rc_buf_puts(&b, "}");
	if (r->record_id[0]) {
		rc_buf_printf(&b, ",\"record\":{\"id\":\"%s\",\"name\":", r->record_id);
		rc_buf_jstr(&b, cfg->record, strlen(cfg->record));
		rc_buf_printf(&b, ",\"exchanges\":%llu,\"dropped\":%llu}", (unsigned long long)s->recorded,
			      (unsigned long long)s->record_dropped);
	}
	rc_buf_puts(&b, "}\n");
	fwrite(b.p, 1, b.len, stdout);
	rc_buf_free(&b);
}

/* bench/gen_session.c: writes a synthetic capture session of N realistic
 * exchanges straight through persist/ (no proxy), for bench/store.sh and
 * for trying the offline commands on a big session:
 *
 *   rc_gen_session [--data DIR] [--name NAME] [--workers W] [--seed S]
 *                  [--full] [--active] N
 *
 * Exchanges come from bench/realistic.h: 30 hosts, API calls with every
 * method, pages, scripts, styles, images (stored without body), fonts;
 * statuses 200-502; JSON/HTML bodies with varying values, already
 * compressed bodies, empty ones. Small bodies (<= 600 B) unless --full
 * (up to 16 KiB: about 2.3 KB on disk per exchange). Exchange k goes to
 * worker k % W. The same seed writes the same session. The session is
 * created by name in DIR (default ./ringcap-data) and left stopped, or
 * active with --active (as a killed daemon leaves it: `ringcap run
 * --session NAME` then recovers and continues it).
 * Prints one line: key=value pairs (exchanges, seconds, raw and disk
 * bytes, ratio, session bytes per exchange).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "persist/seg.h"
#include "persist/ses.h"
#include "bench/realistic.h"
#include "tests/persist/gen.h"

#define GEN_WORKERS_MAX 64u

struct gen_opts {
	const char *data, *name;
	unsigned workers;
	uint64_t seed, n;
	bool full, active;
};

static int parse(int argc, char **argv, struct gen_opts *o)
{
	static const struct option lo[] = {
		{ "data", required_argument, NULL, 'd' }, { "name", required_argument, NULL, 'n' },
		{ "workers", required_argument, NULL, 'w' }, { "seed", required_argument, NULL, 's' },
		{ "full", no_argument, NULL, 'f' }, { "active", no_argument, NULL, 'a' },
		{ 0, 0, 0, 0 },
	};
	*o = (struct gen_opts){ .data = "./ringcap-data", .name = "synthetic", .workers = 2,
				.seed = 1 };
	for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
		switch (c) {
		case 'd': o->data = optarg; break;
		case 'n': o->name = optarg; break;
		case 'w': o->workers = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': o->seed = strtoull(optarg, NULL, 10); break;
		case 'f': o->full = true; break;
		case 'a': o->active = true; break;
		default: return -1;
		}
	}
	if (optind != argc - 1 || o->workers == 0 || o->workers > GEN_WORKERS_MAX)
		return -1;
	o->n = strtoull(argv[optind], NULL, 10);
	return o->n ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct gen_opts o;
	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: rc_gen_session [--data DIR] [--name NAME] [--workers W] "
			"[--seed S] [--full] [--active] N\n");
		return 2;
	}
	mkdir(o.data, 0700);
	struct ses_settings st = { .save_responses = true, .max_body = SEG_BODY_MAX_DEFAULT };
	struct ses_meta m;
	int rc = ses_create(o.data, o.name, &st, now_wall_ns(), &m);
	if (rc < 0) {
		fprintf(stderr, "rc_gen_session: session '%s' in %s: %s\n", o.name, o.data,
			strerror(-rc));
		return 1;
	}
	char dir[4096];
	ses_dir(dir, sizeof(dir), o.data, m.id);
	struct seg_writer *w[GEN_WORKERS_MAX];
	for (unsigned i = 0; i < o.workers; i++) {
		struct seg_writer_cfg c = { .session_dir = dir, .worker = (uint16_t)i,
					    .save_responses = true };
		REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w[i]));
	}
	uint64_t t0 = mono_ns();
	for (uint64_t k = 0; k < o.n; k++)
		put_exchange(w[k % o.workers], o.seed, k, !o.full, true);
	struct seg_writer_stats sum = { 0 };
	for (unsigned i = 0; i < o.workers; i++) {
		REQUIRE_RC(seg_writer_flush_sync(w[i]));
		struct seg_writer_stats s;
		seg_writer_get_stats(w[i], &s);
		sum.bytes_raw += s.bytes_raw;
		sum.bytes_disk += s.bytes_disk;
		sum.exchanges += s.exchanges;
		seg_writer_close(w[i]);
	}
	double secs = (double)(mono_ns() - t0) / 1e9;
	if (!o.active)
		REQUIRE_RC(ses_set_state(o.data, m.id, SES_STOPPED, now_wall_ns()));
	struct ses_stats ss;
	REQUIRE_RC(ses_stats(o.data, m.id, &ss));
	printf("session=%s id=%s exchanges=%llu seconds=%.2f raw_bytes=%llu frame_bytes=%llu "
	       "ratio=%.2f session_bytes=%llu bytes_per_exchange=%.0f\n", o.name, m.id,
	       (unsigned long long)sum.exchanges, secs, (unsigned long long)sum.bytes_raw,
	       (unsigned long long)sum.bytes_disk,
	       (double)sum.bytes_raw / (double)(sum.bytes_disk ? sum.bytes_disk : 1),
	       (unsigned long long)ss.bytes, (double)ss.bytes / (double)o.n);
	return 0;
}

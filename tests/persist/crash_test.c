/* tests/persist/crash_test.c: kill -9 during capture. A child captures
 * interleaved exchanges without end, flushing after every few and telling
 * the parent the low watermark (every exchange below it has ended and
 * been flushed). The parent kills it at a random moment, runs recovery,
 * and checks that every exchange below the watermark is listed and that
 * every listed exchange opens byte-exact. Three rounds, one worker each,
 * into the same session; then a writer reopened on a crashed worker
 * continues after its highest id.
 */
#include <signal.h>
#include <sys/wait.h>

#include "tests/persist/gen.h"
#include "persist/query.h"

#define SEED 900
#define MAXK 2000000u

static int report_fd;
static uint8_t *ended;
static uint64_t watermark;

static void after_end(struct drive *d, struct seg_writer *w)
{
	ended[d->last_ended_k] = 1;
	if (d->ended % 7)
		return;
	REQUIRE_RC(seg_writer_flush_sync(w));
	while (watermark < MAXK && ended[watermark])
		watermark++;
	REQUIRE(write(report_fd, &watermark, sizeof(watermark)) == (ssize_t)sizeof(watermark));
}

static void child(const char *dir, uint16_t worker, int fd)
{
	report_fd = fd;
	ended = calloc(MAXK, 1);
	REQUIRE(ended);
	struct seg_writer *w;
	struct seg_writer_cfg c = { .session_dir = dir, .worker = worker, .save_responses = true,
				    .frame_bytes = 16384, .rotate_bytes = 1 << 20 };
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	struct drive d;
	drive_init(&d, SEED + worker, MAXK, 25, 32, 12000);
	d.after_end = after_end;
	drive_run(&d, w, MAXK); /* killed long before the end */
	_exit(3);
}

static uint64_t round_trip(const char *dir, uint16_t worker)
{
	int p[2];
	REQUIRE(pipe(p) == 0);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		child(dir, worker, p[1]);
	}
	close(p[1]);
	uint64_t wm = 0, target = 800 + (uint64_t)(gen_mix((uint64_t)now_wall_ns()) % 800);
	while (wm < target)
		REQUIRE(read(p[0], &wm, sizeof(wm)) == (ssize_t)sizeof(wm));
	struct timespec ts = { 0, (long)(gen_mix(wm) % 20000000) };
	nanosleep(&ts, NULL); /* land anywhere, most likely mid-frame */
	uint64_t more = 0;
	while (read(p[0], &more, sizeof(more)) == (ssize_t)sizeof(more) && more > wm + 50)
		break;
	if (more > wm)
		wm = more;
	REQUIRE(kill(pid, SIGKILL) == 0);
	int status;
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL); /* not an early failure */
	close(p[0]);
	return wm;
}

int main(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "crash");
	uint64_t wm[3];
	for (uint16_t r = 0; r < 3; r++) {
		wm[r] = round_trip(dir, r);
		struct seg_report rep = { 0 };
		uint64_t t0 = now_wall_ns();
		REQUIRE_RC(seg_recover(dir, &rep));
		uint64_t t1 = now_wall_ns();
		struct seg_table t;
		REQUIRE_RC(seg_table_load(dir, &t, NULL));
		uint8_t *seen = calloc(MAXK, 1);
		REQUIRE(seen);
		size_t mine = 0;
		for (size_t i = 0; i < t.n; i++) {
			uint64_t id = t.rows[i].e.id;
			uint16_t w = (uint16_t)(id >> SEG_ID_WORKER_SHIFT);
			uint64_t k = (id & ((1ull << SEG_ID_WORKER_SHIFT) - 1)) - 1;
			REQUIRE(w <= r && k < MAXK);
			if (w == r) {   /* earlier workers' rows were verified in their round */
				verify_exchange(dir, id, SEED + w, k, 25, SEG_BODY_MAX_DEFAULT, true);
				seen[k] = 1;
				mine++;
			}
		}
		for (uint64_t k = 0; k < wm[r]; k++)
			CHECK(seen[k]);
		fprintf(stderr,
			"  round %u: flushed below %llu, listed %zu (torn tail %llu bytes, "
			"%llu begun but not ended), recovery %.1f ms\n",
			(unsigned)r, (unsigned long long)wm[r], mine, (unsigned long long)rep.torn_bytes,
			(unsigned long long)rep.incomplete, (double)(t1 - t0) / 1e6);
		free(seen);
		seg_table_free(&t);
	}
	/* Capture continues on a crashed worker, after its highest id. */
	struct seg_writer *w;
	struct seg_writer_cfg c = { .session_dir = dir, .worker = 1 };
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	struct seg_xch *x;
	uint64_t id;
	struct seg_xch_begin b = { .method = "GET", .method_len = 3, .host = "z", .host_len = 1,
				   .url = "http://z/", .url_len = 9 };
	REQUIRE_RC(seg_xch_begin(w, &b, &x, &id));
	struct seg_xch_end e = { .status = 200 };
	REQUIRE_RC(seg_xch_end(w, x, &e));
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
	struct seg_table t;
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	for (size_t i = 0; i < t.n; i++)
		if (t.rows[i].e.id >> SEG_ID_WORKER_SHIFT == 1 && t.rows[i].e.id != id)
			REQUIRE(t.rows[i].e.id < id);
	seg_table_free(&t);
	struct seg_exchange ex;
	REQUIRE_RC(seg_open_id(dir, id, NULL, &ex));
	seg_exchange_free(&ex);
	rm_rf(dir);
	return check_done("persist_crash");
}

/* bench/filter_bench.c: cost of deciding one URL with 10, 100 and 1,000 URL
 * patterns (mixed contains / excludes / regex), through the compiled filter
 * (one Hyperscan scan) and through a naive loop (strcasestr for literals,
 * POSIX regexec for regexes), in one run, as a ratio. Both must reach the
 * same verdict on every URL the naive loop sees; a mismatch fails the run.
 *
 * Method: a corpus of generated URLs (API calls, static assets, pages,
 * 40..140 bytes) is matched in batches of BATCH URLs; the per-URL time of a
 * batch is one sample and the table shows the median and p99 of samples.
 * Patterns are generated from the same vocabulary so that each kind hits a
 * realistic share of URLs. Usage: filter_bench [--quick]. Exit 0 when the
 * targets hold (1,000 patterns: median <= 1 us and >= 50x the naive loop),
 * 1 when they do not, 2 on a verdict mismatch or setup failure. */
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter/flt.h"

#define URLS 10000      /* corpus size */
#define BATCH 100       /* URLs per timing sample */
#define URL_LEN_MAX 192

static char urls[URLS][URL_LEN_MAX];
static size_t url_lens[URLS];
static uint64_t rng = 0x9e3779b97f4a7c15u;

static const char *const words[] = { "users", "orders", "items", "cart",
	"search", "login", "static", "img", "products", "reviews", "feed",
	"ads", "track", "health", "metrics", "graphql", "assets", "profile",
	"settings", "payments", "invoices", "news", "video", "chat" };
#define NWORDS (sizeof(words) / sizeof(words[0]))

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)((rng >> 11) % n);
}

static const char *word(void)
{
	return words[rnd(NWORDS)];
}

static void make_urls(void)
{
	for (int i = 0; i < URLS; i++) {
		char *u = urls[i];
		switch (rnd(4)) {
		case 0:
			snprintf(u, URL_LEN_MAX,
				 "https://api%u.example.com/v%u/%s/%u?page=%u&sort=%s",
				 rnd(20), 1 + rnd(3), word(), rnd(100000), rnd(50),
				 word());
			break;
		case 1:
			snprintf(u, URL_LEN_MAX,
				 "http://cdn%u.example.net/static/%s/%u.%s", rnd(10),
				 word(), rnd(100000), rnd(2) ? "png" : "js");
			break;
		case 2:
			snprintf(u, URL_LEN_MAX,
				 "https://www.shop%u.com/%s/%s-%u.html?ref=%s%u",
				 rnd(50), word(), word(), rnd(10000), word(),
				 rnd(100));
			break;
		default:
			snprintf(u, URL_LEN_MAX, "/%s/%s?op=%s%u&id=%%%02X%%%02X",
				 word(), word(), word(), rnd(1000), rnd(256),
				 rnd(256));
			break;
		}
		url_lens[i] = strlen(u);
	}
}

/* Adds n distinct patterns: 50% contains, 20% excludes, 30% regex
 * (duplicates, which the spec drops, are drawn again). */
static void make_spec(struct flt_spec *s, int n)
{
	char p[160], err[FLT_ERR_LEN];

	for (int i = 0; (int)s->n_urls < n && i < 100 * n; i++) {
		enum flt_kind k;
		int r = (int)s->n_urls % 10;
		if (r < 5) {
			k = FLT_KIND_URL_CONTAINS;
			if (rnd(4) == 0)
				snprintf(p, sizeof(p), "/%s/", word());
			else
				snprintf(p, sizeof(p), "/%s/%u", word(), rnd(1000));
		} else if (r < 7) {
			k = FLT_KIND_URL_EXCLUDES;
			if (rnd(2))
				snprintf(p, sizeof(p), "cdn%u.example.net/static/%s/%u",
					 rnd(10), word(), rnd(10));
			else
				snprintf(p, sizeof(p), "/%s-%u", word(), rnd(10000));
		} else {
			k = FLT_KIND_URL_REGEX;
			switch (rnd(3)) {
			case 0:
				snprintf(p, sizeof(p),
					 "^https://api%u\\.example\\.com/v[12]/%s/[0-9]+",
					 rnd(1000), word());
				break;
			case 1:
				snprintf(p, sizeof(p), "/%s/[0-9]{%u}\\?page=%u[0-9]*&",
					 word(), 2 + rnd(4), rnd(50));
				break;
			default:
				snprintf(p, sizeof(p), "[?&](ref|sort)=%s%u[0-9]*$",
					 word(), rnd(100));
				break;
			}
		}
		if (flt_spec_add(s, k, p, strlen(p), err, sizeof(err)) < 0) {
			fprintf(stderr, "pattern '%s': %s\n", p, err);
			exit(2);
		}
	}
}

struct naive {
	int n;
	const char **lit;   /* contains/excludes text */
	int *role;
	regex_t *re;
};

static void naive_init(struct naive *nv, const struct flt_spec *s)
{
	nv->n = (int)s->n_urls;
	nv->lit = calloc(s->n_urls, sizeof(*nv->lit));
	nv->role = calloc(s->n_urls, sizeof(*nv->role));
	nv->re = calloc(s->n_urls, sizeof(*nv->re));
	for (uint32_t i = 0; i < s->n_urls; i++) {
		nv->lit[i] = s->urls[i].text;
		nv->role[i] = s->urls[i].role;
		if (s->urls[i].role == FLT_URL_REGEX &&
		    regcomp(&nv->re[i], s->urls[i].text,
			    REG_EXTENDED | REG_NOSUB)) {
			fprintf(stderr, "regcomp '%s' failed\n", s->urls[i].text);
			exit(2);
		}
	}
}

static void naive_free(struct naive *nv)
{
	for (int i = 0; i < nv->n; i++)
		if (nv->role[i] == FLT_URL_REGEX)
			regfree(&nv->re[i]);
	free(nv->lit);
	free(nv->role);
	free(nv->re);
}

/* The obvious loop, with every early exit it can take: an exclude rejects
 * at once, each any-of kind stops at its first hit. */
static bool naive_match(const struct naive *nv, const char *url)
{
	bool need_c = false, need_r = false, got_c = false, got_r = false;

	for (int i = 0; i < nv->n; i++)
		if (nv->role[i] == FLT_URL_EXCLUDES && strcasestr(url, nv->lit[i]))
			return false;
	for (int i = 0; i < nv->n && !got_c; i++) {
		if (nv->role[i] != FLT_URL_CONTAINS)
			continue;
		need_c = true;
		got_c = strcasestr(url, nv->lit[i]) != NULL;
	}
	if (need_c && !got_c)
		return false;
	for (int i = 0; i < nv->n && !got_r; i++) {
		if (nv->role[i] != FLT_URL_REGEX)
			continue;
		need_r = true;
		got_r = !regexec(&nv->re[i], url, 0, NULL, 0);
	}
	return !need_r || got_r;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct result {
	double median, p99;
	int accepted, urls;
};

/* Times `rounds` passes over the first n URLs; f is 0 for the compiled
 * filter, 1 for the naive loop. */
static struct result run(int f, const struct flt_db *db,
			 struct flt_scratch *sc, const struct naive *nv,
			 int n, int rounds)
{
	int nb = n / BATCH * rounds, k = 0;
	double *samples = calloc((size_t)nb, sizeof(double));
	struct result r = { 0, 0, 0, n };
	volatile int sink = 0;

	for (int round = 0; round < rounds; round++) {
		for (int b = 0; b + BATCH <= n; b += BATCH) {
			double t0 = now_ns();
			int acc = 0;
			for (int i = b; i < b + BATCH; i++)
				acc += f ? naive_match(nv, urls[i]) :
				      flt_match_request(db, sc, "GET", urls[i],
							url_lens[i], NULL,
							NULL) == FLT_ACCEPT;
			samples[k++] = (now_ns() - t0) / BATCH;
			sink += acc;
			if (round == 0)
				r.accepted += acc;
		}
	}
	qsort(samples, (size_t)k, sizeof(double), cmp_double);
	r.median = samples[k / 2];
	r.p99 = samples[k * 99 / 100];
	free(samples);
	(void)sink;
	return r;
}

int main(int argc, char **argv)
{
	static const int counts[] = { 10, 100, 1000 };
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	int rc = 0;

	make_urls();
	printf("| patterns (c/e/r) | compile ms | filter median ns/URL | p99 | "
	       "naive median ns/URL | p99 | naive / filter | accepted |\n");
	printf("|---|---|---|---|---|---|---|---|\n");
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		struct flt_spec s;
		struct flt_db *db = NULL;
		struct flt_scratch *sc = NULL;
		struct naive nv;
		char err[FLT_ERR_LEN];
		int nc = 0, ne = 0, nr = 0;

		flt_spec_init(&s);
		make_spec(&s, counts[c]);
		for (uint32_t i = 0; i < s.n_urls; i++) {
			nc += s.urls[i].role == FLT_URL_CONTAINS;
			ne += s.urls[i].role == FLT_URL_EXCLUDES;
			nr += s.urls[i].role == FLT_URL_REGEX;
		}
		double t0 = now_ns();
		if (flt_compile(&s, &db, err, sizeof(err)) < 0 ||
		    flt_scratch_reserve(&sc, db) < 0) {
			fprintf(stderr, "compile: %s\n", err);
			return 2;
		}
		double compile_ms = (now_ns() - t0) / 1e6;
		naive_init(&nv, &s);

		/* The naive loop sees fewer URLs at 1,000 patterns (it is slow);
		 * every URL it sees is cross-checked. */
		int n_naive = quick ? 500 : (counts[c] >= 1000 ? 2000 : URLS);
		for (int i = 0; i < n_naive; i++) {
			bool a = flt_match_request(db, sc, "GET", urls[i],
						   url_lens[i], NULL, NULL) ==
				 FLT_ACCEPT;
			if (a != naive_match(&nv, urls[i])) {
				fprintf(stderr, "verdict mismatch on '%s'\n",
					urls[i]);
				return 2;
			}
		}
		struct result hs = run(0, db, sc, &nv, URLS, quick ? 2 : 20);
		struct result na = run(1, db, sc, &nv, n_naive, quick ? 1 : 3);
		double ratio = na.median / hs.median;
		printf("| %d (%d/%d/%d) | %.1f | %.0f | %.0f | %.0f | %.0f | %.0fx | "
		       "%.1f%% |\n", (int)s.n_urls, nc, ne, nr, compile_ms,
		       hs.median, hs.p99, na.median, na.p99, ratio,
		       100.0 * hs.accepted / hs.urls);
		if (counts[c] == 1000 && (hs.median > 1000.0 || ratio < 50.0))
			rc = 1;
		naive_free(&nv);
		flt_scratch_free(sc);
		flt_db_unref(db);
		flt_spec_free(&s);
	}
	printf("target (1,000 patterns: median <= 1000 ns, >= 50x naive): %s\n",
	       rc ? "MISSED" : "met");
	return rc;
}

/*
 * tests/tools/cli/ca_test.c - `ringcap ca` through rc_cmd_ca, one forked child
 * per case so exit code, stdout and stderr are checked as a user sees them:
 * it never creates a CA (it says where it looked), it shows the one
 * tls_ca_open made as `ringcap run` does (data directory 0700, key 0600)
 * with the same fingerprint every time, --json is valid JSON, each --export format parses back to
 * the same certificate (name extension, --format, --password, stdout),
 * usage errors exit 2 naming the bad value, CA and file errors exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs8.h>
#include <openssl/x509.h>

#include "tls/tls.h"
#include "tools/cli/cmds.h"
#include "tests/check.h"

#define OUT_MAX (64 * 1024)
#define ARGS_MAX 16

static char tmp[256];

struct run {
	int code;              /* exit code, or -1 when the child did not exit */
	char out[OUT_MAX];     /* stdout, NUL-terminated */
	size_t out_len;
	char err[OUT_MAX];     /* stderr, NUL-terminated */
};

static struct run r;

static size_t slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, cap - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return n;
}

static void child_redirect(void)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/stdout", tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, 1) < 0)
		_exit(99);
	close(fd);
	snprintf(path, sizeof(path), "%s/stderr", tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, 2) < 0)
		_exit(99);
	close(fd);
}

/* Runs `ringcap ca ARGS...` (NULL-terminated, without "ca") in a child.
 * With AGAIN, the child then runs `ringcap ca AGAIN...` in the same process
 * (getopt state must not leak between calls) and exits first * 10 + second. */
static int run_ca_twice(const char *const *args, const char *const *again)
{
	char *argv[2][ARGS_MAX + 2];
	int argc[2] = { 0, 0 }, status = 0;
	const char *const *lists[2] = { args, again };
	char path[300];
	pid_t pid;

	for (int k = 0; k < 2; k++) {
		argv[k][argc[k]++] = (char *)"ca";
		for (int i = 0; lists[k] != NULL && lists[k][i] != NULL && i < ARGS_MAX; i++)
			argv[k][argc[k]++] = (char *)lists[k][i];
		argv[k][argc[k]] = NULL;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		int code;

		child_redirect();
		code = rc_cmd_ca(argc[0], argv[0]);
		if (again != NULL)
			code = code * 10 + rc_cmd_ca(argc[1], argv[1]);
		exit(code);   /* exit, not _exit: stdio flushed, leak checks run */
	}
	waitpid(pid, &status, 0);
	r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	snprintf(path, sizeof(path), "%s/stdout", tmp);
	r.out_len = slurp(path, r.out, sizeof(r.out));
	snprintf(path, sizeof(path), "%s/stderr", tmp);
	slurp(path, r.err, sizeof(r.err));
	return r.code;
}

static int run_ca(const char *const *args)
{
	return run_ca_twice(args, NULL);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* Value after "LABEL: " (spaces skipped) up to the end of its line. */
static bool field(const char *out, const char *label, char *val, size_t cap)
{
	const char *p = strstr(out, label);
	size_t n;

	if (p == NULL || (p != out && p[-1] != '\n'))
		return false;
	p += strlen(label);
	p += strspn(p, " ");
	n = strcspn(p, "\n");
	if (n >= cap)
		return false;
	memcpy(val, p, n);
	val[n] = '\0';
	return true;
}

/* ---- a small strict JSON checker for one flat object ---- */

static const char *json_ws(const char *p)
{
	return p + strspn(p, " \t\r\n");
}

/* A JSON string at P; copies its contents into VAL (when not NULL) with
 * one-character escapes resolved (\" -> "), \u escapes left out. */
static const char *json_string(const char *p, char *val, size_t cap)
{
	size_t n = 0;

	if (*p++ != '"')
		return NULL;
	for (; *p != '"'; p++) {
		if (*p == '\0' || (unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (strchr("0123456789abcdefABCDEF", p[i]) == NULL ||
					    p[i] == '\0')
						return NULL;
				p += 4;
				continue;
			} else if (*p == '\0' || strchr("\"\\/bfnrt", *p) == NULL) {
				return NULL;
			}
		}
		if (val != NULL && n + 1 < cap)
			val[n++] = *p;
	}
	if (val != NULL)
		val[n] = '\0';
	return p + 1;
}

/* True when S is exactly one JSON object of string keys and string or
 * boolean values; KEY's string value (if any) is copied to VAL. */
static bool json_flat_object(const char *s, const char *key, char *val, size_t cap)
{
	const char *p = json_ws(s);
	char name[64];

	if (*p++ != '{')
		return false;
	for (int i = 0; i < 64; i++) {
		p = json_string(json_ws(p), name, sizeof(name));
		if (p == NULL)
			return false;
		p = json_ws(p);
		if (*p++ != ':')
			return false;
		p = json_ws(p);
		if (*p == '"')
			p = json_string(p, strcmp(name, key) == 0 ? val : NULL, cap);
		else if (strncmp(p, "true", 4) == 0)
			p += 4;
		else if (strncmp(p, "false", 5) == 0)
			p += 5;
		else
			return false;
		if (p == NULL)
			return false;
		p = json_ws(p);
		if (*p == '}')
			return *json_ws(p + 1) == '\0';
		if (*p++ != ',')
			return false;
	}
	return false;
}

/* ---- certificates ---- */

static X509 *read_pem_file(const char *path)
{
	BIO *bio = BIO_new_file(path, "r");
	X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	return x;
}

/* Parses BUF as FMT ("pem", "der", "p12" with PASSWORD) and compares it to
 * WANT. */
static bool same_cert(const uint8_t *buf, size_t len, const char *fmt,
		      const char *password, X509 *want)
{
	X509 *got = NULL;
	bool ok = false;

	if (strcmp(fmt, "pem") == 0) {
		BIO *bio = BIO_new_mem_buf(buf, (int)len);

		got = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else if (strcmp(fmt, "der") == 0) {
		const uint8_t *p = buf;

		got = d2i_X509(NULL, &p, (long)len);
		if (p != buf + len) {
			X509_free(got);
			got = NULL;
		}
	} else {
		STACK_OF(X509) *certs = sk_X509_new_null();
		EVP_PKEY *key = NULL;
		CBS cbs;

		CBS_init(&cbs, buf, len);
		if (PKCS12_get_key_and_certs(&key, certs, &cbs, password) && key == NULL &&
		    sk_X509_num(certs) == 1)
			got = X509_dup(sk_X509_value(certs, 0));
		EVP_PKEY_free(key);
		sk_X509_pop_free(certs, X509_free);
	}
	ok = got != NULL && X509_cmp(got, want) == 0;
	X509_free(got);
	ERR_clear_error();
	return ok;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

/* ---- cases ---- */

/* Creates the CA in dir the way `ringcap run` does. */
static void make_ca(const char *dir)
{
	struct tls_ca *ca = NULL;
	char err[256];
	CHECK(tls_ca_open(dir, NULL, &ca, err, sizeof(err)) == 0);
	tls_ca_free(ca);
}

static void check_create_and_reuse(const char *dir, char *fp, size_t fp_cap)
{
	char path[512], val[600], fp2[128];
	X509 *x;

	/* showing never creates: one line naming where it looked */
	CHECK(run_ca((const char *[]){ "--data", dir, NULL }) == 1);
	CHECK(strstr(r.err, "no CA in") != NULL && strstr(r.err, dir) != NULL);
	CHECK(count_lines(r.err) == 1 && r.out_len == 0);
	CHECK(mode_of(dir) == (mode_t)-1);
	make_ca(dir);
	CHECK(run_ca((const char *[]){ "--data", dir, NULL }) == 0);
	CHECK(r.err[0] == '\0');
	CHECK(mode_of(dir) == 0700);
	snprintf(path, sizeof(path), "%s/ca-key.pem", dir);
	CHECK(mode_of(path) == 0600);
	CHECK(field(r.out, "key:", val, sizeof(val)) && strcmp(val, path) == 0);
	snprintf(path, sizeof(path), "%s/ca-cert.pem", dir);
	CHECK(field(r.out, "certificate:", val, sizeof(val)) && strcmp(val, path) == 0);
	CHECK(field(r.out, "created:", val, sizeof(val)) && strcmp(val, "no") == 0);
	CHECK(field(r.out, "sha256:", fp, fp_cap) && strlen(fp) == 95);
	CHECK(field(r.out, "subject:", val, sizeof(val)) &&
	      strstr(val, "O = ringcap") != NULL && strstr(val, "CN = ringcap CA ") != NULL);
	CHECK(count_lines(r.out) == 6);

	/* About ten years ahead, as YYYY-MM-DDTHH:MM:SSZ. */
	time_t now = time(NULL);
	struct tm tm;
	int year = 0;
	gmtime_r(&now, &tm);
	CHECK(field(r.out, "not after:", val, sizeof(val)) && strlen(val) == 20 &&
	      val[4] == '-' && val[10] == 'T' && val[19] == 'Z');
	CHECK(sscanf(val, "%d-", &year) == 1 && year >= tm.tm_year + 1900 + 9 &&
	      year <= tm.tm_year + 1900 + 11);

	x = read_pem_file(path);
	CHECK(x != NULL);
	X509_free(x);

	CHECK(run_ca((const char *[]){ "--data", dir, NULL }) == 0);
	CHECK(field(r.out, "created:", val, sizeof(val)) && strcmp(val, "no") == 0);
	CHECK(field(r.out, "sha256:", fp2, sizeof(fp2)) && strcmp(fp, fp2) == 0);
}

static void check_json(const char *dir, const char *fp)
{
	char val[256] = "";

	CHECK(run_ca((const char *[]){ "--data", dir, "--json", NULL }) == 0);
	CHECK(json_flat_object(r.out, "fingerprint", val, sizeof(val)));
	CHECK(strcmp(val, fp) == 0);
	CHECK(strstr(r.out, "\"created\": false") != NULL);
	CHECK(json_flat_object(r.out, "not_after", val, sizeof(val)) && strlen(val) == 20);
	CHECK(!json_flat_object("{\"a\": \"b\",}", "a", val, sizeof(val)));   /* checker */
	CHECK(!json_flat_object("{\"a\": \"\x01\"}", "a", val, sizeof(val)));

	/* A data path that needs escaping stays valid JSON. */
	char odd[300];
	snprintf(odd, sizeof(odd), "%s/we\"ird\\dir", tmp);
	make_ca(odd);
	CHECK(run_ca((const char *[]){ "--data", odd, "--json", NULL }) == 0);
	CHECK(json_flat_object(r.out, "certificate", val, sizeof(val)));
	CHECK(strstr(val, "we\"ird\\dir/ca-cert.pem") != NULL);
	CHECK(strstr(r.out, "\"created\": false") != NULL);

	/* With --export, the JSON names the file and the format. */
	char file[300];
	snprintf(file, sizeof(file), "%s/j.cer", tmp);
	CHECK(run_ca((const char *[]){ "--data", dir, "--json", "--export", file, NULL }) == 0);
	CHECK(json_flat_object(r.out, "format", val, sizeof(val)) && strcmp(val, "der") == 0);
}

static void check_exports(const char *dir)
{
	static const struct {
		const char *name, *format, *password, *want;
	} cases[] = {
		{ "a.pem", NULL, NULL, "pem" },      { "a.crt", NULL, NULL, "der" },
		{ "a.cer", NULL, NULL, "der" },      { "a.der", NULL, NULL, "der" },
		{ "a.p12", NULL, NULL, "p12" },      { "a.pfx", NULL, "s3cret", "p12" },
		{ "a.bin", "der", NULL, "der" },     { "a.txt", NULL, NULL, "pem" },
		{ "noext", NULL, NULL, "pem" },      { "b.crt", "pem", NULL, "pem" },
		{ "b.pem", "p12", "pw", "p12" },     { "c.PEM", "DER", NULL, "der" },
		{ "d.x.crt", NULL, NULL, "der" },
	};
	char cert_path[512], file[512];
	static uint8_t buf[OUT_MAX];
	X509 *want;

	snprintf(cert_path, sizeof(cert_path), "%s/ca-cert.pem", dir);
	want = read_pem_file(cert_path);
	CHECK(want != NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[ARGS_MAX] = { "--data", dir, "--export", file };
		int n = 4;
		size_t len;

		snprintf(file, sizeof(file), "%s/%s", tmp, cases[i].name);
		if (cases[i].format != NULL) {
			args[n++] = "--format";
			args[n++] = cases[i].format;
		}
		if (cases[i].password != NULL) {
			args[n++] = "--password";
			args[n++] = cases[i].password;
		}
		args[n] = NULL;
		CHECK(run_ca(args) == 0);
		CHECK(strncmp(r.out, "wrote ", 6) == 0 && count_lines(r.out) == 1);
		CHECK(mode_of(file) == 0644);
		len = slurp(file, (char *)buf, sizeof(buf));
		const char *pw = cases[i].password != NULL ? cases[i].password : "";
		if (!same_cert(buf, len, cases[i].want, pw, want))
			fprintf(stderr, "export %s: not a %s of the CA\n", cases[i].name,
				cases[i].want);
		CHECK(same_cert(buf, len, cases[i].want, pw, want));
		if (cases[i].password != NULL)   /* the password is really used */
			CHECK(!same_cert(buf, len, "p12", "", want));
	}

	/* "-" is stdout, bytes only. */
	CHECK(run_ca((const char *[]){ "--data", dir, "--export", "-", "--format", "der",
				       NULL }) == 0);
	CHECK(same_cert((const uint8_t *)r.out, r.out_len, "der", "", want));
	CHECK(run_ca((const char *[]){ "--data", dir, "--export", "-", NULL }) == 0);
	CHECK(same_cert((const uint8_t *)r.out, r.out_len, "pem", "", want));
	X509_free(want);
}

/* Exit 2, one line on stderr containing NEEDLE, nothing on stdout. */
static void expect_usage(const char *const *args, const char *needle)
{
	int code = run_ca(args);

	if (code != 2 || strstr(r.err, needle) == NULL)
		fprintf(stderr, "usage case '%s': code %d, stderr '%s'\n", needle, code, r.err);
	CHECK(code == 2);
	CHECK(strstr(r.err, needle) != NULL);
	CHECK(count_lines(r.err) == 1 && strncmp(r.err, "ringcap ca: ", 12) == 0);
	CHECK(r.out_len == 0);
}

static void check_usage(const char *dir)
{
	char file[300];

	snprintf(file, sizeof(file), "%s/u.pem", tmp);
	expect_usage((const char *[]){ "--data", dir, "--export", file, "--format", "xyz",
				       NULL }, "'xyz'");
	CHECK(access(file, F_OK) != 0);   /* nothing written */
	expect_usage((const char *[]){ "--export", file, "--format=pkcs7", NULL }, "'pkcs7'");
	expect_usage((const char *[]){ "--bogus", NULL }, "'--bogus'");
	expect_usage((const char *[]){ "--data", dir, "--export", NULL }, "'--export'");
	expect_usage((const char *[]){ "--data", dir, "extra", NULL }, "'extra'");
	expect_usage((const char *[]){ "--format", "der", NULL }, "--export");
	expect_usage((const char *[]){ "--export", file, "--password", "x", NULL },
		     "PKCS#12");
	expect_usage((const char *[]){ "--export", "-", "--json", NULL }, "stdout");
	expect_usage((const char *[]){ "--data", "", NULL }, "empty");
	expect_usage((const char *[]){ "-x", NULL }, "'-x'");

	CHECK(run_ca((const char *[]){ "--help", NULL }) == 0);
	CHECK(strncmp(r.out, "usage: ringcap ca", 17) == 0 && r.err[0] == '\0');
	CHECK(run_ca((const char *[]){ "-h", "--bogus", NULL }) == 0);

	/* Two calls in one process: the first one's getopt state is reset. */
	CHECK(run_ca_twice((const char *[]){ "--data", dir, "--bogus", "x", NULL },
			   (const char *[]){ "--json", "--data", dir, NULL }) == 20);
	CHECK(strstr(r.out, "\"fingerprint\"") != NULL);
}

static void check_failures(const char *dir)
{
	char path[600], file[512];

	/* A key readable by others is refused, naming the file. */
	snprintf(path, sizeof(path), "%s/ca-key.pem", dir);
	CHECK(chmod(path, 0644) == 0);
	CHECK(run_ca((const char *[]){ "--data", dir, NULL }) == 1);
	CHECK(strstr(r.err, path) != NULL && count_lines(r.err) == 1);
	CHECK(r.out_len == 0);
	CHECK(chmod(path, 0600) == 0);
	CHECK(run_ca((const char *[]){ "--data", dir, NULL }) == 0);

	/* A data "directory" that is a file, and one below a file. */
	snprintf(file, sizeof(file), "%s/plainfile", tmp);
	FILE *f = fopen(file, "w");
	CHECK(f != NULL);
	if (f != NULL)
		fclose(f);
	CHECK(run_ca((const char *[]){ "--data", file, NULL }) == 1);
	CHECK(count_lines(r.err) == 1 && strstr(r.err, "plainfile") != NULL);
	snprintf(path, sizeof(path), "%s/sub", file);
	CHECK(run_ca((const char *[]){ "--data", path, NULL }) == 1);
	CHECK(count_lines(r.err) == 1 && strstr(r.err, "plainfile/sub") != NULL);

	/* An export into a missing directory names the file. */
	snprintf(path, sizeof(path), "%s/no/such/dir/ca.pem", tmp);
	CHECK(run_ca((const char *[]){ "--data", dir, "--export", path, NULL }) == 1);
	CHECK(count_lines(r.err) == 1 && strstr(r.err, path) != NULL);
}

/* Without --data: ./ringcap-data in the working directory, named in full
 * when it holds no CA. */
static void check_default_dir(void)
{
	char val[256], want[400];

	unsetenv("RINGCAP_DATA");
	CHECK(run_ca((const char *[]){ NULL }) == 1);
	snprintf(want, sizeof(want), "no CA in %s/ringcap-data ", tmp);
	CHECK(strstr(r.err, want) != NULL);
	CHECK(mode_of("ringcap-data") == (mode_t)-1);
	make_ca("./ringcap-data");
	CHECK(run_ca((const char *[]){ NULL }) == 0);
	CHECK(field(r.out, "certificate:", val, sizeof(val)) &&
	      strcmp(val, "./ringcap-data/ca-cert.pem") == 0);
	CHECK(mode_of("ringcap-data") == 0700);
	CHECK(mode_of("ringcap-data/ca-key.pem") == 0600);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	char dir[300], fp[128] = "", cmd[400];

	umask(022);
	snprintf(tmp, sizeof(tmp), "%s/ringcap-ca-test-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(tmp) == NULL || chdir(tmp) != 0) {
		perror(tmp);
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/data", tmp);   /* does not exist yet */

	check_create_and_reuse(dir, fp, sizeof(fp));
	check_json(dir, fp);
	check_exports(dir);
	check_usage(dir);
	check_failures(dir);
	check_default_dir();

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (chdir("/") != 0 || system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", tmp);
	return check_done("ca_test");
}

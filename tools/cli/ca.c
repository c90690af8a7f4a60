/*
 * tools/cli/ca.c - `ringcap ca` : opens the CA with tls_ca_open, the
 * same call `ringcap run` makes, so both always agree on the files and the
 * fingerprint. Only `run` creates a CA: a command that shows never does, so
 * `ringcap ca` in the wrong directory says where it looked instead of
 * minting a second CA that no device trusts.
 *
 * Output without --export, one "label: value" line each (stable, for
 * scripts; --json gives the same fields as one JSON object):
 *   certificate, key, sha256, subject, not after (UTC), created (yes/no).
 * With --export: one line naming the file written, unless FILE is "-".
 *
 * Exit codes: 0 done, 1 failure (the CA or the export file), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/x509.h>

#include "tls/tls.h"
#include "tools/cli/args.h"
#include "tools/cli/cmds.h"
#include "tools/lib/fmt.h"
#include "tools/lib/rc-limits.h"

#define CA_DATA_DEFAULT RC_DATA_DIR_DEFAULT
/* Room for a subject line: O, OU (host, <= 64) and CN (<= 64) with labels. */
#define CA_SUBJECT_MAX 256
/* "2036-11-27T02:45:14Z" and the NUL, with room for odd encodings. */
#define CA_TIME_MAX 40

struct ca_opts {
	const char *data_dir;
	const char *export_path;   /* NULL: show, do not export */
	const char *format;        /* --format as given, NULL: from the name */
	const char *password;      /* --password, p12 only */
	bool json;
};

/* What the show output and --json print. */
struct ca_info {
	const char *cert_path;
	const char *key_path;
	const char *fingerprint;
	char subject[CA_SUBJECT_MAX];
	char not_after[CA_TIME_MAX];
	bool created;
};

static const char *const format_names[] = {
	[TLS_CA_PEM] = "pem", [TLS_CA_DER] = "der", [TLS_CA_P12] = "p12",
};

static int parse_ca(int argc, char **argv, struct ca_opts *o);
static int pick_format(const struct ca_opts *o, enum tls_ca_format *fmt);
static void describe(const struct tls_ca *ca, struct ca_info *info);
static void print_info(const struct ca_info *info, const struct ca_opts *o,
		       const char *fmt_name);
static int export_ca(const struct tls_ca *ca, const struct ca_opts *o,
		     enum tls_ca_format fmt);

/* False (after one line saying where it looked and how to point it
 * elsewhere) when neither CA file exists in DIR; true otherwise, also for
 * other errors, which tls_ca_open reports (a half CA, a file as DIR). */
static bool ca_present(const char *dir)
{
	char path[4096], cwd[2048] = "";
	snprintf(path, sizeof(path), "%s/ca-cert.pem", dir);
	if (access(path, F_OK) == 0 || errno != ENOENT)
		return true;
	snprintf(path, sizeof(path), "%s/ca-key.pem", dir);
	if (access(path, F_OK) == 0 || errno != ENOENT)
		return true;
	if (dir[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
		cwd[0] = '\0';
	if (cwd[0] && strncmp(dir, "./", 2) == 0)
		dir += 2;
	fprintf(stderr, "ringcap ca: no CA in %s%s%s (looked for ca-cert.pem; nothing was "
		"created): ringcap run creates it in its data directory on first start; point "
		"this command there with --data DIR or RINGCAP_DATA=DIR\n",
		cwd, cwd[0] ? "/" : "", dir);
	return false;
}

static const char ca_usage[] =
	"usage: ringcap ca [options]\n\n"
	"Shows the CA that ringcap signs intercepted HTTPS with (ringcap run\n"
	"creates it in the data directory on first start), or exports it for a\n"
	"device (or browse to http://ringcap.cert/ through the proxy).\n\n"
	"options:\n"
	"  --data DIR          data directory [$RINGCAP_DATA, else " CA_DATA_DEFAULT "]\n"
	"  --export FILE       write the certificate to FILE (- for stdout)\n"
	"  --format FMT        pem, der (.crt/.cer) or p12 [from FILE's extension,\n"
	"                      else pem]\n"
	"  --password PW       PKCS#12 password [empty]\n"
	"  --json              print the details as one JSON object\n"
	"  -h, --help          this text\n";

int rc_cmd_ca(int argc, char **argv)
{
	struct ca_opts o = {0};
	enum tls_ca_format fmt = TLS_CA_PEM;
	struct tls_ca *ca = NULL;
	struct ca_info info;
	char err[TLS_ERR_MAX] = "";
	int rc = parse_ca(argc, argv, &o);

	if (rc < 0)
		return rc == -2 ? 0 : 2;
	if (o.export_path != NULL && pick_format(&o, &fmt) < 0)
		return 2;
	if (!ca_present(o.data_dir))
		return 1;
	rc = tls_ca_open(o.data_dir, NULL, &ca, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "ringcap ca: %s\n", err[0] ? err : strerror(-rc));
		return 1;
	}
	describe(ca, &info);
	rc = 0;
	if (o.export_path != NULL)
		rc = export_ca(ca, &o, fmt);
	if (rc == 0 && (o.export_path == NULL || o.json))
		print_info(&info, &o, o.export_path != NULL ? format_names[fmt] : NULL);
	else if (rc == 0 && strcmp(o.export_path, "-") != 0)
		printf("wrote %s (%s, SHA-256 %s)%s\n", o.export_path, format_names[fmt],
		       info.fingerprint, info.created ? ", new CA" : "");
	tls_ca_free(ca);
	if (fflush(stdout) != 0 && rc == 0) {
		fprintf(stderr, "ringcap ca: cannot write to stdout: %s\n", strerror(errno));
		rc = -EIO;
	}
	return rc < 0 ? 1 : 0;
}

/* ---- options ---- */

static int set_export(void *o, const char *v)
{
	((struct ca_opts *)o)->export_path = v;
	return 0;
}

static int set_format(void *o, const char *v)
{
	((struct ca_opts *)o)->format = v;
	return 0;
}

static int set_password(void *o, const char *v)
{
	((struct ca_opts *)o)->password = v;
	return 0;
}

/* Fills O from ARGV. Returns 0, -2 after --help, or -EINVAL after one
 * line on stderr. */
static int parse_ca(int argc, char **argv, struct ca_opts *o)
{
	static const struct rc_opt opts[] = {
		{ "export", true, set_export }, { "format", true, set_format },
		{ "password", true, set_password }, { NULL, false, NULL },
	};
	struct rc_cli_common c = {0};
	int first = rc_cli_opts(argc, argv, &c, ca_usage, opts, o);
	if (first < 0)
		return first == -2 ? -2 : -EINVAL;
	o->data_dir = c.data;
	o->json = c.json;
	if (first < argc) {
		fprintf(stderr, "ringcap ca: unexpected argument '%s'\n", argv[first]);
		return -EINVAL;
	}
	if (o->export_path == NULL && (o->format != NULL || o->password != NULL)) {
		fprintf(stderr, "ringcap ca: --%s needs --export FILE\n",
			o->format != NULL ? "format" : "password");
		return -EINVAL;
	}
	if (o->data_dir[0] == '\0' || (o->export_path != NULL && o->export_path[0] == '\0')) {
		fprintf(stderr, "ringcap ca: --%s: empty path\n",
			o->data_dir[0] == '\0' ? "data" : "export");
		return -EINVAL;
	}
	return 0;
}

/* The export format: --format, else FILE's extension, else PEM. */
static int pick_format(const struct ca_opts *o, enum tls_ca_format *fmt)
{
	const char *slash = strrchr(o->export_path, '/');
	const char *dot = strrchr(slash != NULL ? slash : o->export_path, '.');

	*fmt = TLS_CA_PEM;
	if (o->format != NULL && tls_ca_format_parse(o->format, fmt) < 0) {
		fprintf(stderr, "ringcap ca: --format: unknown format '%s' "
			"(pem, der, crt, cer, p12 or pfx)\n", o->format);
		return -EINVAL;
	}
	if (o->format == NULL && dot != NULL && tls_ca_format_parse(dot + 1, fmt) < 0)
		*fmt = TLS_CA_PEM;
	if (o->password != NULL && *fmt != TLS_CA_P12) {
		fprintf(stderr, "ringcap ca: --password applies to PKCS#12 only, "
			"not to %s (use --format p12)\n", format_names[*fmt]);
		return -EINVAL;
	}
	if (o->json && strcmp(o->export_path, "-") == 0) {
		fprintf(stderr, "ringcap ca: --json and --export - would share stdout\n");
		return -EINVAL;
	}
	return 0;
}

/* ---- output ---- */

/* "YYYYMMDDHHMMSSZ" (GeneralizedTime) as "YYYY-MM-DDTHH:MM:SSZ"; any other
 * encoding is printed as it is. */
static void format_time(const ASN1_TIME *t, char *out, size_t len)
{
	ASN1_GENERALIZEDTIME *g = ASN1_TIME_to_generalizedtime(t, NULL);
	const char *s = g != NULL ? (const char *)ASN1_STRING_get0_data(g) : NULL;
	int n = g != NULL ? ASN1_STRING_length(g) : 0;

	if (s == NULL)
		snprintf(out, len, "unknown");
	else if (n == 15 && s[14] == 'Z')
		snprintf(out, len, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", s, s + 4, s + 6, s + 8,
			 s + 10, s + 12);
	else
		snprintf(out, len, "%.*s", n, s);
	ASN1_GENERALIZEDTIME_free(g);
}

static void describe(const struct tls_ca *ca, struct ca_info *info)
{
	X509 *x = tls_ca_x509(ca);
	BIO *bio = BIO_new(BIO_s_mem());
	const uint8_t *data = NULL;
	size_t len = 0;

	memset(info, 0, sizeof(*info));
	info->cert_path = tls_ca_cert_path(ca);
	info->key_path = tls_ca_key_path(ca);
	info->fingerprint = tls_ca_fingerprint(ca);
	info->created = tls_ca_created(ca);
	/* "O = ringcap, OU = host, CN = ...", as `openssl x509 -subject`
	 * prints it; UTF-8 kept as is rather than escaped. */
	if (bio != NULL &&
	    X509_NAME_print_ex(bio, X509_get_subject_name(x), 0,
			       XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
	    BIO_mem_contents(bio, &data, &len))
		snprintf(info->subject, sizeof(info->subject), "%.*s", (int)len,
			 (const char *)data);
	BIO_free(bio);
	format_time(X509_get0_notAfter(x), info->not_after, sizeof(info->not_after));
}

static void json_field(const char *name, const char *value, bool last)
{
	printf("  \"%s\": ", name);
	rc_json_str(stdout, value, strlen(value));
	printf(last ? "\n" : ",\n");
}

static void print_info(const struct ca_info *info, const struct ca_opts *o,
		       const char *fmt_name)
{
	if (!o->json) {
		printf("certificate: %s\nkey:         %s\nsha256:      %s\n"
		       "subject:     %s\nnot after:   %s\ncreated:     %s\n",
		       info->cert_path, info->key_path, info->fingerprint, info->subject,
		       info->not_after, info->created ? "yes" : "no");
		return;
	}
	printf("{\n");
	json_field("certificate", info->cert_path, false);
	json_field("key", info->key_path, false);
	json_field("fingerprint", info->fingerprint, false);
	json_field("subject", info->subject, false);
	json_field("not_after", info->not_after, false);
	if (fmt_name != NULL) {
		json_field("export", o->export_path, false);
		json_field("format", fmt_name, false);
	}
	printf("  \"created\": %s\n}\n", info->created ? "true" : "false");
}

/* ---- export ---- */

static int export_ca(const struct tls_ca *ca, const struct ca_opts *o,
		     enum tls_ca_format fmt)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (strcmp(o->export_path, "-") != 0) {
		rc = tls_ca_export_file(ca, fmt, o->password, o->export_path);
		if (rc < 0)
			fprintf(stderr, "ringcap ca: cannot write %s: %s\n", o->export_path,
				strerror(-rc));
		return rc;
	}
	rc = tls_ca_export(ca, fmt, o->password, &buf, &len);
	if (rc == 0 && fwrite(buf, 1, len, stdout) != len)
		rc = -EIO;
	if (rc < 0)
		fprintf(stderr, "ringcap ca: cannot write the CA to stdout: %s\n",
			strerror(-rc));
	free(buf);
	return rc;
}

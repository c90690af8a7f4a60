/* keylog_test.c - NSS key log lines from both roles: a TLS 1.3 handshake
 * logs the four traffic secrets from the client and the server side, a
 * TLS 1.2 one a CLIENT_RANDOM line from each; the file is mode 0600 and
 * every line is well formed (label, 64 hex client random, hex secret). */
#include <ctype.h>
#include <sys/stat.h>

#include <openssl/ssl.h>

#include "tests/tls/tls-test.h"

static int count_label(const char *path, const char *label, int *bad)
{
	FILE *fp = fopen(path, "r");
	char line[600];
	int n = 0;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;

		if (sp1 == NULL || sp2 == NULL || sp2 - sp1 - 1 != 64 ||
		    line[strlen(line) - 1] != '\n') {
			(*bad)++;
			continue;
		}
		for (char *p = sp1 + 1; *p != '\n'; p++) {
			if (p != sp2 && !isxdigit((unsigned char)*p)) {
				(*bad)++;
				break;
			}
		}
		if ((size_t)(sp1 - line) == strlen(label) && strncmp(line, label, strlen(label)) == 0)
			n++;
	}
	fclose(fp);
	return n;
}

static void run(struct test_fixture *f, int version)
{
	struct tls_conn *cl = NULL, *sv = NULL;

	CHECK_EQ(tls_conn_new_client(f->client, "keylog.test", &cl), 0);
	CHECK_EQ(tls_conn_new_server(f->server, f->cache, NULL, &sv), 0);
	if (cl != NULL && sv != NULL) {
		SSL_set_max_proto_version(cl->ssl, (uint16_t)version);
		CHECK_EQ(test_handshake(cl, sv), 0);
	}
	tls_conn_free(cl);
	tls_conn_free(sv);
}

int main(void)
{
	char dir[256], path[300];
	struct tls_keylog *kl = NULL;
	struct test_fixture f;
	struct stat st;
	uint64_t written = 0, failed = 0;
	int bad = 0;

	test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/keys.log", dir);
	CHECK_EQ(tls_keylog_open(path, &kl), 0);
	if (kl == NULL)
		return 1;
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	test_fixture_init(&f, kl);

	run(&f, TLS1_3_VERSION);
	CHECK_EQ(count_label(path, "CLIENT_HANDSHAKE_TRAFFIC_SECRET", &bad), 2);
	CHECK_EQ(count_label(path, "SERVER_HANDSHAKE_TRAFFIC_SECRET", &bad), 2);
	CHECK_EQ(count_label(path, "CLIENT_TRAFFIC_SECRET_0", &bad), 2);
	CHECK_EQ(count_label(path, "SERVER_TRAFFIC_SECRET_0", &bad), 2);
	run(&f, TLS1_2_VERSION);
	CHECK_EQ(count_label(path, "CLIENT_RANDOM", &bad), 2);
	CHECK_EQ(bad, 0);
	tls_keylog_counts(kl, &written, &failed);
	CHECK(written >= 10);
	CHECK_EQ(failed, 0);

	test_fixture_fini(&f);
	tls_keylog_close(kl);
	CHECK_EQ(tls_keylog_open("/nonexistent-dir/keys.log", &kl), -ENOENT);
	test_rmdir(dir);
	return check_done("keylog");
}

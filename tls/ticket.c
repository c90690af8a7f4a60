/*
 * ticket.c - session tickets for the client-facing side: the keys that
 * seal and open them, kept in memory only and rotated on an interval.
 *
 * One set of keys serves every worker (the SSL_CTX is shared, and a
 * client's next connection may land on another worker's listener through
 * SO_REUSEPORT): the newest key seals new tickets, the one before it still
 * opens tickets for one more interval. A ticket's lifetime is one interval
 * (SSL_CTX_set_timeout and the TLS 1.3 equivalent), so its key always
 * outlives it, and a client resumes across a rotation; a ticket sealed
 * two rotations ago opens with no key and the handshake is a full one.
 * A restart makes new keys: every client does one full handshake.
 *
 * Tickets are AES-256-CBC with HMAC-SHA256 (BoringSSL's ticket format
 * around what the callback sets up). TLS 1.3 resumption is psk_dhe_ke
 * only in BoringSSL, so a stolen key does not open past TLS 1.3 traffic;
 * for TLS 1.2 it opens at most two intervals' worth.
 *
 * Threads: the key callback runs on any worker; the keys are copied out
 * under a mutex held for that copy (and a rotation) only.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <openssl/is_boringssl.h>
#include <openssl/cipher.h>
#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "tls/tls-int.h"

_Static_assert(sizeof(((struct tls_ticket_key *)0)->name) == SSL_TICKET_KEY_NAME_LEN,
	       "key name is BoringSSL's ticket key name");
_Static_assert(TLS_TICKET_ROTATE_S_MIN <= TLS_TICKET_ROTATE_S_DEFAULT, "default in range");
_Static_assert(TLS_TICKET_ROTATE_S_DEFAULT <= TLS_TICKET_ROTATE_S_MAX, "default in range");

static int64_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

static void key_new(struct tls_ticket_key *k)
{
	RAND_bytes(k->name, sizeof(k->name));
	RAND_bytes(k->aes, sizeof(k->aes));
	RAND_bytes(k->hmac, sizeof(k->hmac));
}

/* The newest key retires to "previous"; the one before it is forgotten.
 * Called with t->lock held. */
static void rotate_locked(struct tls_tickets *t, int64_t now_s)
{
	t->prev = t->cur;
	t->have_prev = true;
	key_new(&t->cur);
	t->next_s = now_s + t->rotate_s;
	t->rotations++;
}

int tls_tickets_init(struct tls_tickets *t, uint32_t rotate_s)
{
	memset(t, 0, sizeof(*t));
	if (rotate_s < TLS_TICKET_ROTATE_S_MIN || rotate_s > TLS_TICKET_ROTATE_S_MAX)
		return -EINVAL;
	if (pthread_mutex_init(&t->lock, NULL) != 0)
		return -ENOMEM;
	t->rotate_s = rotate_s;
	key_new(&t->cur);
	t->next_s = mono_s() + rotate_s;
	return 0;
}

void tls_tickets_fini(struct tls_tickets *t)
{
	pthread_mutex_destroy(&t->lock);
	OPENSSL_cleanse(&t->cur, sizeof(t->cur));
	OPENSSL_cleanse(&t->prev, sizeof(t->prev));
}

/* Copies the key for sealing (NAME NULL) or the one named NAME into *OUT.
 * Returns 1 for the newest key, 2 for the previous one (the ticket is
 * re-sealed under the newest), 0 when no key has that name. Rotates first
 * when the interval has passed. */
static int key_get(struct tls_tickets *t, const uint8_t *name, struct tls_ticket_key *out)
{
	int64_t now_s = mono_s();
	int which = 0;

	pthread_mutex_lock(&t->lock);
	if (now_s >= t->next_s) {
		/* no handshake for two intervals: the previous key is due to
		 * go as well, not to open tickets for one more interval */
		bool both = now_s >= t->next_s + t->rotate_s;

		rotate_locked(t, now_s);
		if (both)
			rotate_locked(t, now_s);
	}
	if (name == NULL || memcmp(name, t->cur.name, sizeof(t->cur.name)) == 0) {
		*out = t->cur;
		which = 1;
	} else if (t->have_prev && memcmp(name, t->prev.name, sizeof(t->prev.name)) == 0) {
		*out = t->prev;
		which = 2;
	}
	pthread_mutex_unlock(&t->lock);
	return which;
}

/* SSL_CTX_set_tlsext_ticket_key_cb: sealing returns 1 or -1 (error);
 * opening returns 1 (newest key), 2 (previous key: renew the ticket) or 0
 * (no such key: full handshake). */
int tls_ticket_key_cb(SSL *ssl, uint8_t *name, uint8_t *iv, EVP_CIPHER_CTX *ectx,
		      HMAC_CTX *hctx, int encrypt)
{
	struct tls_conn *c = SSL_get_app_data(ssl);
	struct tls_ticket_key k;
	const EVP_CIPHER *cipher = EVP_aes_256_cbc();
	int which;

	if (c == NULL || c->srv == NULL)
		return encrypt ? -1 : 0;
	which = key_get(&c->srv->tickets, encrypt ? NULL : name, &k);
	if (which == 0)
		return 0;
	if (!HMAC_Init_ex(hctx, k.hmac, sizeof(k.hmac), EVP_sha256(), NULL)) {
		which = -1;
		goto out_cleanse;
	}
	if (encrypt) {
		memcpy(name, k.name, sizeof(k.name));
		RAND_bytes(iv, EVP_CIPHER_iv_length(cipher));
		if (!EVP_EncryptInit_ex(ectx, cipher, NULL, k.aes, iv))
			which = -1;
	} else if (!EVP_DecryptInit_ex(ectx, cipher, NULL, k.aes, iv)) {
		which = -1;
	}
out_cleanse:
	OPENSSL_cleanse(&k, sizeof(k));
	return which;
}

int tls_server_set_ticket_rotate(struct tls_server *s, uint32_t rotate_s)
{
	if (rotate_s < TLS_TICKET_ROTATE_S_MIN || rotate_s > TLS_TICKET_ROTATE_S_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->tickets.lock);
	s->tickets.rotate_s = rotate_s;
	s->tickets.next_s = mono_s() + rotate_s;
	pthread_mutex_unlock(&s->tickets.lock);
	/* a ticket never outlives the key that opens it (file comment) */
	SSL_CTX_set_timeout(s->ctx, rotate_s);
	SSL_CTX_set_session_psk_dhe_timeout(s->ctx, rotate_s);
	return 0;
}

void tls_server_rotate_tickets(struct tls_server *s)
{
	pthread_mutex_lock(&s->tickets.lock);
	rotate_locked(&s->tickets, mono_s());
	pthread_mutex_unlock(&s->tickets.lock);
}

uint64_t tls_server_ticket_rotations(struct tls_server *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->tickets.lock);
	n = s->tickets.rotations;
	pthread_mutex_unlock(&s->tickets.lock);
	return n;
}

/*
 * tools/control/qr.h - a QR code as SVG, drawn server-side with libqrencode:
 * the web UI shows the onboarding URL (http://ringcap.cert/) this way, so
 * a phone that points its camera at the screen opens the CA install page.
 */
#ifndef RINGCAP_QR_H
#define RINGCAP_QR_H

#include <stddef.h>

/* Largest SVG rc_qr_svg writes, in bytes: a version-10 code (57 modules
 * square, ~170 bytes of text) is at most 3,249 dark modules of ~16 bytes
 * of path each; 64 KiB leaves room. */
#define RC_QR_SVG_MAX (64u * 1024)
#define RC_QR_TEXT_MAX 170u   /* version 10 at level M holds 213 bytes */

/* Encodes text (error correction level M, 8-bit mode) and writes an SVG
 * image with a 4-module quiet zone into out[cap]. Returns its length,
 * -EINVAL when text is empty or longer than RC_QR_TEXT_MAX, -ENOSPC when
 * out is too small, -ENOMEM when libqrencode fails. */
long rc_qr_svg(const char *text, char *out, size_t cap);

#endif

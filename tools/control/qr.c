/*
 * tools/control/qr.c - QR code to SVG (see qr.h). One <path> of unit squares
 * over a white background, in module coordinates; the viewBox scales it, and
 * shape-rendering="crispEdges" keeps the edges sharp at any size.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <qrencode.h>

#include "tools/control/qr.h"

#define QR_QUIET 4   /* modules of white border the standard asks for */

/* Appends to out at *len; false when it did not fit. */
static bool put(char *out, size_t cap, size_t *len, const char *fmt, int a, int b)
{
	int n = snprintf(out + *len, cap - *len, fmt, a, b);
	if (n < 0 || (size_t)n >= cap - *len)
		return false;
	*len += (size_t)n;
	return true;
}

long rc_qr_svg(const char *text, char *out, size_t cap)
{
	size_t tlen = strlen(text);
	if (tlen == 0 || tlen > RC_QR_TEXT_MAX)
		return -EINVAL;
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (q == NULL)
		return -ENOMEM;
	int w = q->width, side = w + 2 * QR_QUIET;
	size_t len = 0;
	bool ok = put(out, cap, &len, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
		      "shape-rendering=\"crispEdges\">", side, side) &&
		  put(out, cap, &len, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path d=\"",
		      side, side);
	for (int y = 0; ok && y < w; y++)
		for (int x = 0; ok && x < w; x++)
			if (q->data[y * w + x] & 1)   /* bit 0: dark module */
				ok = put(out, cap, &len, "M%d %dh1v1h-1z", x + QR_QUIET, y + QR_QUIET);
	static const char tail[] = "\" fill=\"#000\"/></svg>\n";
	ok = ok && cap - len > sizeof(tail) - 1;
	if (ok) {
		memcpy(out + len, tail, sizeof(tail));   /* NUL included */
		len += sizeof(tail) - 1;
	}
	QRcode_free(q);
	return ok ? (long)len : -ENOSPC;
}

/* Hex and base64url codecs that fail on any byte outside the alphabet. */
#include <openssl/evp.h>
#include <string.h>

#include "hearth/util.h"

static const char HEX[] = "0123456789abcdef";
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

hearth_status hearth_hex_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    if (n > (SIZE_MAX - 1) / 2 || cap < 2 * n + 1)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "hex output buffer too small");
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX[in[i] >> 4];
        out[2 * i + 1] = HEX[in[i] & 15];
    }
    out[2 * n] = '\0';
    return HEARTH_OK;
}

int hearth_hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

hearth_status hearth_hex_decode(const char *in, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (in[2 * i] == '\0' || in[2 * i + 1] == '\0')
            return hearth_err(HEARTH_ERR_INVALID, "hex string too short");
        int hi = hearth_hex_digit(in[2 * i]), lo = hearth_hex_digit(in[2 * i + 1]);
        if (hi < 0 || lo < 0) return hearth_err(HEARTH_ERR_INVALID, "invalid hex digit");
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    if (in[2 * n] != '\0') return hearth_err(HEARTH_ERR_INVALID, "hex string too long");
    return HEARTH_OK;
}

hearth_status hearth_b64url_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t need = (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0) + 1;
    if (n > SIZE_MAX / 2 || cap < need) return hearth_err(HEARTH_ERR_TOO_LARGE, "base64 buffer too small");
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
        out[o++] = B64URL[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
    }
    out[o] = '\0';
    return HEARTH_OK;
}

static int b64val(char c)
{
    const char *p = c ? strchr(B64URL, c) : NULL;
    return p ? (int)(p - B64URL) : -1;
}

hearth_status hearth_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap,
                                   size_t *outlen)
{
    if (inlen % 4 == 1) return hearth_err(HEARTH_ERR_INVALID, "invalid base64url length");
    size_t need = inlen / 4 * 3 + (inlen % 4 ? inlen % 4 - 1 : 0);
    if (need > cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "base64url input too long");
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < inlen; i++) {
        int v = b64val(in[i]);
        if (v < 0) return hearth_err(HEARTH_ERR_INVALID, "invalid base64url character");
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) return hearth_err(HEARTH_ERR_INVALID, "non-canonical base64url");
    *outlen = o;
    return HEARTH_OK;
}

hearth_status hearth_sha256(const void *in, size_t n, uint8_t out[32])
{
    unsigned int ol = 0;
    if (EVP_Digest(in, n, out, &ol, EVP_sha256(), NULL) != 1 || ol != 32)
        return hearth_err(HEARTH_ERR_CRYPTO, "sha256 failed");
    return HEARTH_OK;
}

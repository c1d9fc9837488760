/*
 * bench_aead - MB/s of wolfCrypt's AES-256-GCM and ChaCha20-Poly1305 over 16 KiB records, the
 * measurement behind tls_cipher's preference for ChaCha20 where AES runs in software
 * (bench/RESULTS.md, issue 13). Usage: build/bench/bench-aead
 */
#include <stdio.h>
#include <time.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

/* now - monotonic seconds */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
/* main - 20000 records of each, encrypted in place of a TLS record layer */
int main(void)
{
    static unsigned char in[16384], out[16384], key[32], iv[12], tag[16], aad[13];
    const int n = 20000;
    Aes aes;
    wc_AesInit(&aes, NULL, INVALID_DEVID);
    wc_AesGcmSetKey(&aes, key, 32);
    double t = now();
    for (int i = 0; i < n; i++)
        wc_AesGcmEncrypt(&aes, out, in, sizeof in, iv, 12, tag, 16, aad, 13);
    double a = n * 16384.0 / (now() - t) / 1e6;
    t = now();
    for (int i = 0; i < n; i++)
        wc_ChaCha20Poly1305_Encrypt(key, iv, aad, 13, in, sizeof in, out, tag);
    double c = n * 16384.0 / (now() - t) / 1e6;
    printf("AES-256-GCM %.0f MB/s, ChaCha20-Poly1305 %.0f MB/s\n", a, c);
    return 0;
}

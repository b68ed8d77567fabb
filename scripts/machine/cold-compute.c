// How much slower the same computation runs right after the thread slept, as code that answers a
// network round trip does: a P-256 key generation, signature and verification (the work of a
// TLS certificate check), timed back to back and after sleeping 1, 5, 10 and 20 ms.
// Build and run: scripts/machine/cold-compute.sh (docs/machine.md, "Compute after an idle wait").
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double nowMicroseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1e6 + (double)now.tv_nsec / 1e3;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    enum { samples = 101 };
    const int sleepsMilliseconds[] = {0, 1, 5, 10, 20};
    unsigned char message[32] = {1};
    unsigned char signature[128];
    printf("sleep_ms p10_us p50_us p90_us\n");
    for (size_t s = 0; s < sizeof(sleepsMilliseconds) / sizeof(sleepsMilliseconds[0]); s++) {
        double times[samples];
        for (int i = 0; i < samples; i++) {
            if (sleepsMilliseconds[s] > 0) {
                struct timespec pause = {0, sleepsMilliseconds[s] * 1000000L};
                nanosleep(&pause, NULL);
            }
            double start = nowMicroseconds();
            EVP_PKEY *key = EVP_EC_gen("P-256");
            size_t length = sizeof(signature);
            EVP_MD_CTX *context = EVP_MD_CTX_new();
            if (key == NULL || context == NULL ||
                EVP_DigestSignInit(context, NULL, EVP_sha256(), NULL, key) != 1 ||
                EVP_DigestSign(context, signature, &length, message, sizeof(message)) != 1) {
                fprintf(stderr, "signing failed\n");
                return 1;
            }
            EVP_MD_CTX_free(context);
            context = EVP_MD_CTX_new();
            if (context == NULL || EVP_DigestVerifyInit(context, NULL, EVP_sha256(), NULL, key) != 1 ||
                EVP_DigestVerify(context, signature, length, message, sizeof(message)) != 1) {
                fprintf(stderr, "verification failed\n");
                return 1;
            }
            EVP_MD_CTX_free(context);
            EVP_PKEY_free(key);
            times[i] = nowMicroseconds() - start;
        }
        qsort(times, samples, sizeof(double), compare);
        printf("%d %.0f %.0f %.0f\n", sleepsMilliseconds[s], times[samples / 10], times[samples / 2],
               times[samples * 9 / 10]);
    }
    return 0;
}

// Stand-alone driver for Benchmarks/Sources/CTLSReference/tls_reference.c, built with gcc -O2 as
// the figures in docs/machine.md were: prints the median time of each operation.
//   scripts/tls-reference/run.sh [iterations]
#include "tls_reference.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef int (*operation)(void *);

/// Median over `rounds` rounds of `batch` calls, in ns per call.
static double median_ns(operation op, void *argument, int rounds, int batch) {
    double *samples = malloc(sizeof(double) * (size_t)rounds);
    for (int warm = 0; warm < batch; warm++) op(argument);
    for (int round = 0; round < rounds; round++) {
        double start = now_ns();
        for (int index = 0; index < batch; index++) {
            if (op(argument) != 1) {
                fprintf(stderr, "operation failed\n");
                exit(1);
            }
        }
        samples[round] = (now_ns() - start) / batch;
    }
    qsort(samples, (size_t)rounds, sizeof(double), compare);
    double median = samples[rounds / 2];
    free(samples);
    return median;
}

static int handshake(void *r) { return tls_reference_handshake_run(r); }
static int encrypt(void *r) { return tls_reference_records_encrypt(r); }
static int roundtrip(void *r) { return tls_reference_records_roundtrip(r); }
static int seal(void *a) { return tls_reference_aead_seal(a); }
static int seal_open(void *a) { return tls_reference_aead_seal(a) == 1 && tls_reference_aead_open(a) == 1; }

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    tls_reference_handshake *fresh = tls_reference_handshake_create(1);
    tls_reference_handshake *cached = tls_reference_handshake_create(0);
    tls_reference_records *records = tls_reference_records_create(16384);
    // Encrypt-only advances the client's sequence numbers, so the round trip needs its own pair.
    tls_reference_records *pair = tls_reference_records_create(16384);
    if (!fresh || !cached || !records || !pair) return 1;
    const char *suite = tls_reference_records_cipher(records);
    tls_reference_aead *aead = tls_reference_aead_create(suite, 16384);
    if (!aead) return 1;
    printf("handshake, fresh certificates  %10.1f us\n", median_ns(handshake, fresh, rounds, 5) / 1e3);
    printf("handshake, cached certificates %10.1f us\n", median_ns(handshake, cached, rounds, 5) / 1e3);
    printf("record encrypt 16 KiB (%s) %8.2f us\n", suite, median_ns(encrypt, records, rounds, 100) / 1e3);
    printf("record roundtrip 16 KiB        %10.2f us\n", median_ns(roundtrip, pair, rounds, 100) / 1e3);
    printf("raw AEAD seal 16 KiB           %10.2f us\n", median_ns(seal, aead, rounds, 100) / 1e3);
    printf("raw AEAD seal+open 16 KiB      %10.2f us\n", median_ns(seal_open, aead, rounds, 100) / 1e3);
    return 0;
}

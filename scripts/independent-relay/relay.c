/*
 * relay LISTEN_PORT TARGET_PORT ONE_WAY_DELAY_US
 *
 * A delaying TCP relay on 127.0.0.1, written independently of the benchmark's
 * own network emulators so that it can cross-check their round-trip figures.
 * Every chunk read from one side is written to the other exactly
 * ONE_WAY_DELAY_US after it was read; EOF is forwarded after the same delay.
 * The connection to the target is made at accept time, so connect() itself is
 * not delayed (a relay cannot delay the client's SYN/ACK).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_CAP (4u << 20) /* per direction; reading pauses above this */
#define READ_MAX 65536
/* Measured on a 2-vCPU VM: a wake-up after a long idle is late by up to
 * ~150 us (the vCPU is halted on the host), after a short one by ~20 us. So a long wait ends LEAD_NS early
 * and is followed by a short one ending SPIN_NS early, and the last SPIN_NS are
 * spun: on time, with at most a few tens of us of spinning. */
#define LEAD_NS 400000
#define SPIN_NS 20000

struct chunk {            /* len == 0 marks a forwarded EOF */
    struct chunk *next;
    uint64_t due;
    size_t len, off;
    char data[];
};
struct dir {              /* bytes read from end[i], written to end[1 - i] */
    struct chunk *head, *tail;
    size_t queued;
    int eof_read, shut, blocked; /* blocked: waiting for EPOLLOUT (or connect) */
};
struct pair;
struct end { struct pair *p; int fd; uint32_t mask; int registered; };
struct pair {
    struct end end[2];    /* 0: accepted client, 1: target */
    struct dir dir[2];
    int connecting, dead;
    struct pair *next, *prev, *next_dead;
};

static int ep, lfd, tfd, sfd;
static uint64_t delay_ns;
static struct sockaddr_in target;
static struct pair *pairs, *dead_pairs;
static uint64_t armed = UINT64_MAX;
static char buf[READ_MAX];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) { perror(what); exit(2); }

static void reap(void)
{
    while (dead_pairs) { struct pair *p = dead_pairs; dead_pairs = p->next_dead; free(p); }
}

/* Recompute which events an end needs. An end that needs none is removed
 * from epoll: otherwise a socket that is fully shut down would report EPOLLHUP
 * forever (level-triggered) while, say, its reading is paused by a full queue. */
static void update(struct pair *p, int i)
{
    struct end *e = &p->end[i];
    struct dir *in = &p->dir[i], *out = &p->dir[1 - i];
    uint32_t m = 0;
    if (!in->eof_read && in->queued < QUEUE_CAP && !(i == 1 && p->connecting)) m |= EPOLLIN;
    if (out->blocked && !out->shut) m |= EPOLLOUT;
    if (m == e->mask && e->registered == (m != 0)) return;
    struct epoll_event ev = { .events = m, .data.ptr = e };
    if (m == 0) { epoll_ctl(ep, EPOLL_CTL_DEL, e->fd, NULL); e->registered = 0; }
    else if (!e->registered) { epoll_ctl(ep, EPOLL_CTL_ADD, e->fd, &ev); e->registered = 1; }
    else epoll_ctl(ep, EPOLL_CTL_MOD, e->fd, &ev);
    e->mask = m;
}

/* Freed only after the current batch of epoll events, which may still point
 * at this pair. On error, linger 0 turns close() into a reset so both peers
 * see the failure as such rather than as a clean EOF. */
static void kill_pair(struct pair *p, int reset)
{
    if (p->dead) return;
    p->dead = 1;
    for (int i = 0; i < 2; i++) {
        if (reset) {
            struct linger lg = { 1, 0 };
            setsockopt(p->end[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(p->end[i].fd); /* close() also drops it from epoll */
        for (struct chunk *c = p->dir[i].head, *n; c; c = n) { n = c->next; free(c); }
    }
    if (p->prev) p->prev->next = p->next; else pairs = p->next;
    if (p->next) p->next->prev = p->prev;
    p->next_dead = dead_pairs;
    dead_pairs = p;
}

/* Write every chunk of direction i whose time has come; returns -1 on error. */
static int flush(struct pair *p, int i, uint64_t now)
{
    struct dir *d = &p->dir[i];
    int out = p->end[1 - i].fd;
    while (d->head && !d->blocked && d->head->due <= now) {
        struct chunk *c = d->head;
        if (c->len == 0) {
            if (shutdown(out, SHUT_WR) < 0) return -1;
            d->shut = 1;
        } else {
            ssize_t n = send(out, c->data + c->off, c->len - c->off, MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) { d->blocked = 1; break; }
            if (n < 0) return -1;
            c->off += (size_t)n;
            if (c->off < c->len) continue;  /* next send() reports EAGAIN if full */
            d->queued -= c->len;
        }
        d->head = c->next;
        if (!d->head) d->tail = NULL;
        free(c);
    }
    update(p, 0);
    update(p, 1);
    return 0;
}

static int do_read(struct pair *p, int i)
{
    struct dir *d = &p->dir[i];
    while (!d->eof_read && d->queued < QUEUE_CAP) {
        ssize_t n = recv(p->end[i].fd, buf, sizeof buf, 0);
        /* "Read" is when recv() returns: the delay counts from here. */
        uint64_t due = now_ns() + delay_ns;
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (n < 0) return -1;
        struct chunk *c = malloc(sizeof *c + (size_t)n);
        if (!c) die("malloc");
        *c = (struct chunk){ .due = due, .len = (size_t)n };
        memcpy(c->data, buf, c->len);
        if (d->tail) d->tail->next = c; else d->head = c;
        d->tail = c;
        d->queued += c->len;
        d->eof_read = n == 0;
    }
    update(p, i);
    return 0;
}

static void accept_all(void)
{
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) perror("accept");
            return;
        }
        int t = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (t < 0) { perror("socket"); close(c); continue; }
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct pair *p = calloc(1, sizeof *p);
        if (!p) die("calloc");
        p->end[0] = (struct end){ p, c, 0, 0 };
        p->end[1] = (struct end){ p, t, 0, 0 };
        p->next = pairs;
        if (pairs) pairs->prev = p;
        pairs = p;
        if (connect(t, (struct sockaddr *)&target, sizeof target) < 0) {
            if (errno != EINPROGRESS) { kill_pair(p, 1); continue; }
            p->connecting = 1;
            p->dir[0].blocked = 1;   /* nothing can go to the target yet */
        }
        update(p, 0);
        update(p, 1);
    }
}

static void on_event(struct end *e, uint32_t ev)
{
    struct pair *p = e->p;
    int i = e == &p->end[1];
    if (p->dead) return;
    if (i == 1 && p->connecting && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) { kill_pair(p, 1); return; }
        p->connecting = 0;
        p->dir[0].blocked = 0;
        update(p, 1);
        return;  /* the flush pass after this batch sends what is due */
    }
    if (ev & EPOLLERR) { kill_pair(p, 1); return; }
    if ((ev & EPOLLOUT) && p->dir[1 - i].blocked) p->dir[1 - i].blocked = 0;
    if ((ev & (EPOLLIN | EPOLLHUP)) && (e->mask & EPOLLIN) && do_read(p, i) < 0) kill_pair(p, 1);
}

static void arm(uint64_t due)
{
    uint64_t at = due;
    if (due != UINT64_MAX) at = due - (due - now_ns() > LEAD_NS ? LEAD_NS : SPIN_NS);
    if (at == armed) return;
    armed = at;
    struct itimerspec its = { 0 };   /* all zero disarms */
    if (due != UINT64_MAX) {
        its.it_value.tv_sec = (time_t)(at / 1000000000u);
        its.it_value.tv_nsec = (long)(at % 1000000000u);
    }
    if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) die("timerfd_settime");
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s LISTEN_PORT TARGET_PORT ONE_WAY_DELAY_US\n", argv[0]);
        return 2;
    }
    int lport = atoi(argv[1]), tport = atoi(argv[2]);
    delay_ns = strtoull(argv[3], NULL, 10) * 1000u;
    /* The default 50 us slack would make every wake-up up to 50 us late. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if ((sfd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0) die("signalfd");

    target = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)tport),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct sockaddr_in la = target;
    la.sin_port = htons((uint16_t)lport);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(lfd, (struct sockaddr *)&la, sizeof la) < 0 || listen(lfd, 512) < 0)
        die("listen");
    socklen_t alen = sizeof la;
    getsockname(lfd, (struct sockaddr *)&la, &alen);

    if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) die("epoll_create1");
    if ((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) die("timerfd");
    int *fds[] = { &lfd, &tfd, &sfd };
    for (int k = 0; k < 3; k++) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = fds[k] };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, *fds[k], &ev) < 0) die("epoll_ctl");
    }
    printf("ready %d\n", ntohs(la.sin_port));
    fflush(stdout);

    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int k = 0; k < n; k++) {
            void *ptr = evs[k].data.ptr;
            if (ptr == &lfd) accept_all();
            else if (ptr == &tfd) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) die("timerfd");
                armed = UINT64_MAX;
            }
            else if (ptr == &sfd) goto out;
            else on_event(ptr, evs[k].events);
        }
        /* Write what is due, spinning briefly for chunks due within SPIN_NS so
         * they leave on time; then arm the timer for the earliest remaining. */
        uint64_t next;
        for (;;) {
            uint64_t now = now_ns();
            next = UINT64_MAX;
            for (struct pair *p = pairs, *pn; p; p = pn) {
                pn = p->next;
                for (int i = 0; i < 2 && !p->dead; i++) {
                    if (flush(p, i, now) < 0) { kill_pair(p, 1); break; }
                    if (p->dir[i].head && !p->dir[i].blocked && p->dir[i].head->due < next)
                        next = p->dir[i].head->due;
                }
                if (!p->dead && p->dir[0].shut && p->dir[1].shut) kill_pair(p, 0);
            }
            if (next == UINT64_MAX || next > now_ns() + SPIN_NS) break;
            while (now_ns() < next) {}
        }
        reap();
        arm(next);
    }
out:
    while (pairs) kill_pair(pairs, 0);
    reap();
    close(lfd); close(tfd); close(sfd); close(ep);
    return 0;
}

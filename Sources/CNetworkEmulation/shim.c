#define _GNU_SOURCE
#include "CNetworkEmulation.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int CNetworkEmulationShim_unshareNetworkNamespace(void) { return unshare(CLONE_NEWNET); }

int CNetworkEmulationShim_enterNetworkNamespace(int namespaceFD) { return setns(namespaceFD, CLONE_NEWNET); }

pid_t CNetworkEmulationShim_threadID(void) { return gettid(); }

void CNetworkEmulationShim_setThreadName(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof(truncated) - 1);
    truncated[sizeof(truncated) - 1] = 0;
    pthread_setname_np(pthread_self(), truncated);
}

int CNetworkEmulationShim_setTimerSlack(unsigned long nanoseconds) {
    return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0);
}

int64_t CNetworkEmulationShim_threadCPUTime(pthread_t thread) {
    clockid_t clock;
    if (pthread_getcpuclockid(thread, &clock) != 0) {
        return -1;
    }
    struct timespec now;
    if (clock_gettime(clock, &now) != 0) {
        return -1;
    }
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

int CNetworkEmulationShim_makeWakePipe(int fds[2]) { return pipe2(fds, O_CLOEXEC | O_NONBLOCK); }

int CNetworkEmulationShim_accept(int listeningFD) {
    return accept4(listeningFD, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
}

int CNetworkEmulationShim_poll(struct pollfd *fds, unsigned long count, int64_t timeoutNanoseconds) {
    if (timeoutNanoseconds < 0) {
        return ppoll(fds, (nfds_t)count, NULL, NULL);
    }
    struct timespec timeout = {
        .tv_sec = (time_t)(timeoutNanoseconds / 1000000000),
        .tv_nsec = (long)(timeoutNanoseconds % 1000000000),
    };
    return ppoll(fds, (nfds_t)count, &timeout, NULL);
}

static int copyName(char destination[IFNAMSIZ], const char *name) {
    size_t length = strlen(name);
    if (length == 0 || length >= IFNAMSIZ) {
        errno = EINVAL;
        return -1;
    }
    memset(destination, 0, IFNAMSIZ);
    memcpy(destination, name, length);
    return 0;
}

int CNetworkEmulationShim_openTUN(const char *name) {
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    if (copyName(request.ifr_name, name) != 0) {
        return -1;
    }
    request.ifr_flags = IFF_TUN | IFF_NO_PI;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return -1;
    }
    if (ioctl(fd, TUNSETIFF, &request) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int setAddress(int sock, const char *name, unsigned long request, uint32_t address) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (copyName(ifr.ifr_name, name) != 0) {
        return -1;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)&ifr.ifr_addr;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = address;
    return ioctl(sock, request, &ifr);
}

static int setUp(int sock, const char *name) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (copyName(ifr.ifr_name, name) != 0) {
        return -1;
    }
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) {
        return -1;
    }
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    return ioctl(sock, SIOCSIFFLAGS, &ifr);
}

int CNetworkEmulationShim_configureInterface(
    const char *name, uint32_t address, uint32_t netmask, uint32_t peer, int mtu) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        return -1;
    }
    int result = 0;
    if (mtu > 0) {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        result = copyName(ifr.ifr_name, name);
        if (result == 0) {
            ifr.ifr_mtu = mtu;
            result = ioctl(sock, SIOCSIFMTU, &ifr);
        }
    }
    if (result == 0) {
        result = setAddress(sock, name, SIOCSIFADDR, address);
    }
    if (result == 0) {
        result = setAddress(sock, name, SIOCSIFNETMASK, netmask);
    }
    if (result == 0 && peer != 0) {
        result = setAddress(sock, name, SIOCSIFDSTADDR, peer);
    }
    if (result == 0) {
        result = setUp(sock, name);
    }
    int saved = errno;
    close(sock);
    errno = saved;
    return result;
}

int CNetworkEmulationShim_setInterfaceUp(const char *name) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        return -1;
    }
    int result = setUp(sock, name);
    int saved = errno;
    close(sock);
    errno = saved;
    return result;
}

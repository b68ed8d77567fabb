// Linux calls that Swift's Glibc module does not import: they are declared only under
// _GNU_SOURCE (unshare, setns, gettid, ppoll, pipe2) or are macros (TUNSETIFF, struct ifreq
// ioctls). Each shim is a plain function compiled in shim.c with _GNU_SOURCE, so the Swift
// side never depends on how the system headers were configured when Glibc was imported.
#ifndef C_NETWORK_EMULATION_H
#define C_NETWORK_EMULATION_H

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// unshare(CLONE_NEWNET): moves the calling thread (only) into a new network namespace.
int CNetworkEmulationShim_unshareNetworkNamespace(void);

/// setns(fd, CLONE_NEWNET): moves the calling thread into the network namespace `fd` refers to.
int CNetworkEmulationShim_enterNetworkNamespace(int namespaceFD);

/// gettid(): the kernel thread ID, which names /proc/<tid>/ns/net for `ip netns attach`.
pid_t CNetworkEmulationShim_threadID(void);

/// pthread_setname_np for the calling thread (names show in /proc/self/task/*/comm).
void CNetworkEmulationShim_setThreadName(const char *name);

/// prctl(PR_SET_TIMERSLACK, nanoseconds) for the calling thread: how late the kernel may fire
/// the thread's timers to batch wake-ups (50 µs by default). prctl is variadic, which Swift
/// cannot call. Returns 0 or -1 (errno set).
int CNetworkEmulationShim_setTimerSlack(unsigned long nanoseconds);

/// CPU time the thread `thread` has used, in nanoseconds (pthread_getcpuclockid + clock_gettime),
/// or -1 when it cannot be read.
int64_t CNetworkEmulationShim_threadCPUTime(pthread_t thread);

/// pipe2(fds, O_CLOEXEC | O_NONBLOCK): wake-up pipes for the emulator threads.
int CNetworkEmulationShim_makeWakePipe(int fds[2]);

/// accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK): accepted sockets NIO can adopt as they are.
int CNetworkEmulationShim_accept(int listeningFD);

/// ppoll with a nanosecond timeout (negative: wait forever); poll() only takes milliseconds.
int CNetworkEmulationShim_poll(struct pollfd *fds, unsigned long count, int64_t timeoutNanoseconds);

/// Opens /dev/net/tun and attaches a TUN interface (IFF_TUN | IFF_NO_PI) named `name` in the
/// calling thread's network namespace. Returns the non-blocking, close-on-exec fd or -1 (errno set).
int CNetworkEmulationShim_openTUN(const char *name);

/// Configures an IPv4 interface through ioctls on a socket of the calling thread's namespace:
/// address, netmask, point-to-point peer (0: none), MTU (0: unchanged), then sets it up.
/// Addresses are in network byte order. Returns 0 or -1 (errno set).
int CNetworkEmulationShim_configureInterface(
    const char *name, uint32_t address, uint32_t netmask, uint32_t peer, int mtu);

/// Sets an interface up without addressing it (used for `lo`). Returns 0 or -1 (errno set).
int CNetworkEmulationShim_setInterfaceUp(const char *name);

#endif

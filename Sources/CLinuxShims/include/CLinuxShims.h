#ifndef PARLEY_CLINUXSHIMS_H
#define PARLEY_CLINUXSHIMS_H
// Linux calls the Swift Glibc module does not export (GNU extensions and <sys/epoll.h>), wrapped so that
// Swift never lays out a kernel struct by hand: `struct epoll_event` is packed on x86_64 only.
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <pthread.h>

/// epoll_create1(EPOLL_CLOEXEC).
int parley_epoll_create(void);
/// epoll_ctl with interest bits (PARLEY_EPOLL_IN/OUT) and a 64-bit token as the event's data.
int parley_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
/// epoll_wait into a buffer made by parley_epoll_buffer; returns the count or -1 (errno set).
int parley_epoll_wait(int epfd, void *buffer, int capacity, int timeout_ms);
/// A buffer for `capacity` events, released with parley_epoll_buffer_free.
void *parley_epoll_buffer(int capacity);
void parley_epoll_buffer_free(void *buffer);
/// Event `index` of a filled buffer.
uint32_t parley_epoll_events_at(const void *buffer, int index);
uint64_t parley_epoll_token_at(const void *buffer, int index);

extern const uint32_t PARLEY_EPOLL_IN, PARLEY_EPOLL_OUT, PARLEY_EPOLL_ERR, PARLEY_EPOLL_HUP;
extern const int PARLEY_EPOLL_CTL_ADD, PARLEY_EPOLL_CTL_MOD, PARLEY_EPOLL_CTL_DEL;

/// accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC).
int parley_accept_nonblocking(int fd, struct sockaddr *address, socklen_t *length);
/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK).
int parley_eventfd(void);
/// pthread_setname_np on the calling thread (names show in top -H and debuggers).
void parley_set_thread_name(const char *name);

#endif

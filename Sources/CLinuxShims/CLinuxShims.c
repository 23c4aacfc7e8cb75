#define _GNU_SOURCE
#include "CLinuxShims.h"
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

const uint32_t PARLEY_EPOLL_IN = EPOLLIN, PARLEY_EPOLL_OUT = EPOLLOUT, PARLEY_EPOLL_ERR = EPOLLERR, PARLEY_EPOLL_HUP = EPOLLHUP;
const int PARLEY_EPOLL_CTL_ADD = EPOLL_CTL_ADD, PARLEY_EPOLL_CTL_MOD = EPOLL_CTL_MOD, PARLEY_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

int parley_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int parley_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event event = { .events = events, .data = { .u64 = token } };
    return epoll_ctl(epfd, op, fd, &event);
}

int parley_epoll_wait(int epfd, void *buffer, int capacity, int timeout_ms) {
    return epoll_wait(epfd, (struct epoll_event *)buffer, capacity, timeout_ms);
}

void *parley_epoll_buffer(int capacity) { return calloc((size_t)capacity, sizeof(struct epoll_event)); }
void parley_epoll_buffer_free(void *buffer) { free(buffer); }

uint32_t parley_epoll_events_at(const void *buffer, int index) {
    return ((const struct epoll_event *)buffer)[index].events;
}

uint64_t parley_epoll_token_at(const void *buffer, int index) {
    return ((const struct epoll_event *)buffer)[index].data.u64;
}

int parley_accept_nonblocking(int fd, struct sockaddr *address, socklen_t *length) {
    return accept4(fd, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int parley_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

void parley_set_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }

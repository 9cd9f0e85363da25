// Noticing that an HTTP client went away while its response is still being generated.
// cpp-httplib 0.11 gives a handler no socket, so the connection's fd is found by its address
// pair (/proc/self/fd + getsockname/getpeername), then polled without reading: a peer that
// closed (FIN or RST) shows as POLLRDHUP/POLLHUP or a zero-byte MSG_PEEK.
#pragma once
#include <string>

namespace awqx::serve {

class ClientWatch {
 public:
  ClientWatch(const std::string& remote_addr, int remote_port, int local_port);
  // True when the peer has closed (or the socket is gone). Cheap: one poll() and at most one
  // recv(MSG_PEEK). False when the fd was not found (we cannot tell).
  bool gone() const;

 private:
  int fd_ = -1;
};

// The listening socket on `port` (SO_ACCEPTCONN), or -1. run_server shuts it down on SIGTERM
// instead of httplib's stop(), which would also cut open streams short.
int find_listening_socket(int port);

}  // namespace awqx::serve

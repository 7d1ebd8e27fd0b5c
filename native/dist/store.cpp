// TcpStore: client side of the rendezvous key-value protocol served by ai.anvil.dist.StoreServer.
//
// One TCP connection per client; requests and replies are big-endian (Java's DataInput/DataOutput):
//   SET  = 1: key, value               -> u8 0
//   GET  = 2: key, u32 timeout_ms      -> u8 0, value   | u8 1 (timed out before the key was set)
//   WAIT = 3: u32 n, n keys, u32 ms    -> u8 0          | u8 1 (timed out)
// where a key or a value is u32 length + bytes. GET and WAIT block on the server until the keys exist.
#include "store.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace anvil_dist {
namespace {
constexpr uint8_t kSet = 1, kGet = 2, kWait = 3;

int connectOnce(const std::string& host, int port, std::string* why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    *why = std::string("cannot resolve: ") + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    *why = strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}
}  // namespace

TcpStore::TcpStore(const std::string& host, int port, std::chrono::milliseconds timeout)
    : host_(host), port_(port), timeout_(timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string why;
  while ((fd_ = connectOnce(host, port, &why)) < 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("rendezvous store " + where() + " unreachable after " +
                               std::to_string(timeout.count()) + " ms: " + why +
                               " (is rank 0 running, and MASTER_ADDR/MASTER_PORT the same on every rank?)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

TcpStore::~TcpStore() {
  if (fd_ >= 0) close(fd_);
}

std::string TcpStore::where() const { return host_ + ":" + std::to_string(port_); }

void TcpStore::sendAll(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t k = send(fd_, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) throw std::runtime_error("rendezvous store " + where() + ": send failed: " + strerror(errno));
    p += k;
    n -= static_cast<size_t>(k);
  }
}

void TcpStore::recvAll(void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t k = recv(fd_, p, n, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k == 0) throw std::runtime_error("rendezvous store " + where() + " closed the connection (rank 0 gone?)");
    if (k < 0) throw std::runtime_error("rendezvous store " + where() + ": receive failed: " + strerror(errno));
    p += k;
    n -= static_cast<size_t>(k);
  }
}

void TcpStore::sendU32(uint32_t v) {
  uint32_t be = htonl(v);
  sendAll(&be, 4);
}

uint32_t TcpStore::recvU32() {
  uint32_t be;
  recvAll(&be, 4);
  return ntohl(be);
}

void TcpStore::sendBytes(const char* data, size_t n) {
  sendU32(static_cast<uint32_t>(n));
  sendAll(data, n);
}

void TcpStore::set(const std::string& key, const std::vector<char>& data) {
  sendAll(&kSet, 1);
  sendBytes(key.data(), key.size());
  sendBytes(data.data(), data.size());
  uint8_t status;
  recvAll(&status, 1);
}

std::vector<char> TcpStore::get(const std::string& key) {
  sendAll(&kGet, 1);
  sendBytes(key.data(), key.size());
  sendU32(static_cast<uint32_t>(timeout_.count()));
  uint8_t status;
  recvAll(&status, 1);
  if (status != 0) {
    throw std::runtime_error("rendezvous: key '" + key + "' not set within " + std::to_string(timeout_.count()) +
                             " ms (a rank did not join)");
  }
  std::vector<char> out(recvU32());
  recvAll(out.data(), out.size());
  return out;
}

void TcpStore::wait(const std::vector<std::string>& keys) { wait(keys, timeout_); }

void TcpStore::wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) {
  sendAll(&kWait, 1);
  sendU32(static_cast<uint32_t>(keys.size()));
  for (const auto& k : keys) sendBytes(k.data(), k.size());
  sendU32(static_cast<uint32_t>(timeout.count()));
  uint8_t status;
  recvAll(&status, 1);
  if (status != 0) {
    std::string names;
    for (const auto& k : keys) names += (names.empty() ? "" : ", ") + k;
    throw std::runtime_error("rendezvous: keys [" + names + "] not set within " + std::to_string(timeout.count()) +
                             " ms (a rank did not join)");
  }
}

}  // namespace anvil_dist

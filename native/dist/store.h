// TcpStore: gloo's rendezvous::Store as a client of ai.anvil.dist.StoreServer, the small key-value server
// rank 0 runs (at MASTER_ADDR:MASTER_PORT, or at the address Spark's allGather handed round). It only
// carries the rendezvous (each rank's pair addresses); the collectives themselves are Gloo's.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <gloo/rendezvous/store.h>

namespace anvil_dist {

class TcpStore : public gloo::rendezvous::Store {
 public:
  // Connects to host:port, retrying until timeout (rank 0 may start its server after the others start).
  TcpStore(const std::string& host, int port, std::chrono::milliseconds timeout);
  ~TcpStore() override;

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override;

 private:
  void sendAll(const void* data, size_t n);
  void recvAll(void* data, size_t n);
  void sendU32(uint32_t v);
  uint32_t recvU32();
  void sendBytes(const char* data, size_t n);
  std::string where() const;

  std::string host_;
  int port_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
};

}  // namespace anvil_dist

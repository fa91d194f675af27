/* The floor of a messaging proc: connects to its launcher over loopback TCP,
 * writes one byte (ready) and then serves frames until EOF. A frame is an
 * 8-byte length in host order and that many payload bytes, which are counted
 * and dropped; a zero length is a ping, answered with one byte once every
 * earlier payload has been read. Usage: floor_echo PORT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Reads exactly n bytes (into buf, or dropped when buf is NULL); 0 at EOF. */
static int read_full(int fd, char* buf, uint64_t n) {
  static char sink[1 << 16];
  while (n > 0) {
    size_t chunk = n < sizeof(sink) ? (size_t)n : sizeof(sink);
    ssize_t got = read(fd, buf != NULL ? buf : sink, chunk);
    if (got <= 0)
      return 0;
    n -= (uint64_t)got;
    if (buf != NULL)
      buf += got;
  }
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2)
    return 2;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)atoi(argv[1]));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0)
    return 1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  char byte = 1;
  if (write(fd, &byte, 1) != 1)
    return 1;
  uint64_t len;
  while (read_full(fd, (char*)&len, sizeof(len))) {
    if (len == 0) {
      if (write(fd, &byte, 1) != 1)
        return 1;
    } else if (!read_full(fd, NULL, len)) {
      return 1;
    }
  }
  return 0;
}

/* The raw floor of a proc bring-up: a minimal C program that connects to the
 * launcher over TCP, writes one byte and exits. Usage: floor_child PORT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2)
    return 2;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short) atoi(argv[1]));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr*) &addr, sizeof(addr)) != 0)
    return 1;
  char byte = 1;
  return write(fd, &byte, 1) == 1 ? 0 : 1;
}

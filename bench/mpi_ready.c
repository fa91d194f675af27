/* The MPI baseline: MPI_Init, MPI_Barrier, then tell the benchmark driver
 * that this rank is ready by connecting to it over loopback TCP and writing
 * its pid (4 bytes, host order); idle in a blocking read until the driver
 * closes the connection (an idle rank that does not spin, as the other
 * contenders' procs), then MPI_Finalize. Built by bench/run with mpicc (Open
 * MPI is an optional peer). Usage: mpirun -np N mpi_ready PORT */
#include <mpi.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Barrier(MPI_COMM_WORLD);
  int status = 0;
  if (argc == 2) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int32_t pid = (int32_t)getpid();
    char byte;
    if (fd < 0 || connect(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0 ||
        write(fd, &pid, sizeof(pid)) != sizeof(pid)) {
      status = 1;
    } else {
      while (read(fd, &byte, 1) > 0)
        ;
    }
    if (fd >= 0)
      close(fd);
  }
  MPI_Finalize();
  return status;
}

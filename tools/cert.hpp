// `meshctl cert init DIR` and `meshctl cert add DIR NAME`: the certificates
// of mutual TLS between meshd hosts and their clients, without openssl
// commands. `init` makes a CA (ECDSA P-256, self-signed) and a certificate
// for this machine; `add` issues another one from that CA, for a node
// (serverAuth and clientAuth) or a client only (clientAuth).
//
// Private keys are written 0600 in a directory that `init` creates 0700, and
// no existing file is replaced without --force.
#pragma once

#include <string>
#include <vector>

namespace meshctl {

struct cert_options {
  /// The directory of the CA and the certificates.
  std::string dir;
  /// `add`: the base name of NAME.pem and NAME.key.
  std::string name;
  /// `add`: a client-only certificate (extendedKeyUsage clientAuth).
  bool client = false;
  /// Extra subjectAltName entries.
  std::vector<std::string> ips;
  std::vector<std::string> dns;
  /// Validity in days (`init`: of the CA and the node certificate; `add`:
  /// of the new certificate, which never outlives the CA).
  int days = 3650;
  /// Replace existing files.
  bool force = false;
};

/// `meshctl cert init`: writes DIR/ca.pem, ca.key, node.pem and node.key,
/// then prints them and the settings to use. Returns the exit code (errors:
/// one line on stderr, 1).
int cert_init(const cert_options& opts);

/// `meshctl cert add`: writes DIR/NAME.pem and DIR/NAME.key, signed by
/// DIR/ca.pem and DIR/ca.key. Returns the exit code like cert_init.
int cert_add(const cert_options& opts);

} // namespace meshctl

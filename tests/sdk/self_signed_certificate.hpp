// self_signed_certificate.hpp — writes a fresh self-signed certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1)
// and its private key as PEM files, with OpenSSL, so HTTPS tests need no file checked in and no openssl command.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace warmup::test {

struct CertificateFiles {
    std::filesystem::path certificate;  // PEM; also usable as the trusted CA file (it signs itself)
    std::filesystem::path private_key;  // PEM
};

/// Creates <folder>/cert.pem and <folder>/key.pem, valid for one day from now. Throws std::runtime_error on failure.
inline CertificateFiles write_self_signed_certificate(const std::filesystem::path& folder) {
    const auto fail = [](const char* what) -> CertificateFiles {
        throw std::runtime_error(std::string("self-signed certificate: ") + what + " failed");
    };
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), &EVP_PKEY_free);
    if (!key) return fail("EVP_RSA_gen");
    std::unique_ptr<X509, decltype(&X509_free)> certificate(X509_new(), &X509_free);
    if (!certificate) return fail("X509_new");
    X509_set_version(certificate.get(), 2);  // v3, for the subjectAltName extension
    ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(certificate.get()), 24 * 3600);
    X509_set_pubkey(certificate.get(), key.get());
    X509_NAME* name = X509_get_subject_name(certificate.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1,
                               0);
    X509_set_issuer_name(certificate.get(), name);
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, certificate.get(), certificate.get(), nullptr, nullptr, 0);
    for (const auto& [nid, value] :
         {std::pair{NID_subject_alt_name, "IP:127.0.0.1"}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
        X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
        if (extension == nullptr) return fail("X509V3_EXT_conf_nid");
        X509_add_ext(certificate.get(), extension, -1);
        X509_EXTENSION_free(extension);
    }
    if (X509_sign(certificate.get(), key.get(), EVP_sha256()) == 0) return fail("X509_sign");

    CertificateFiles files{folder / "cert.pem", folder / "key.pem"};
    const auto write = [&](const std::filesystem::path& path, auto&& writer) {
        FILE* file = std::fopen(path.c_str(), "w");
        if (file == nullptr) return false;
        const bool ok = writer(file) == 1;
        return std::fclose(file) == 0 && ok;
    };
    if (!write(files.certificate, [&](FILE* file) { return PEM_write_X509(file, certificate.get()); }))
        return fail("writing cert.pem");
    if (!write(files.private_key, [&](FILE* file) {
            return PEM_write_PrivateKey(file, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
        }))
        return fail("writing key.pem");
    return files;
}

}  // namespace warmup::test

// config/yaml_documents.hpp — YAML helpers shared by the readers of YAML files (the configuration, the synth
// scenarios): where the documents of a text start, found without YAML::LoadAll, and how a node reads in a message.
//
// yaml-cpp 0.7.0 (Debian 12) has a LoadAll that never returns on some texts (a stray ',' at the start of a value):
// SingleDocParser answers a token it has no case for with a null node without consuming it, and LoadAll asks for the
// next document at the same token, forever (jbeder/yaml-cpp#1040, fixed by #1319 after 0.8.0). The scan walks the
// documents with yaml-cpp's own Parser, whose HandleNextDocument parses one document and always returns, and stops at
// the first document that starts where the previous one did: exactly LoadAll's non-terminating case, since a document
// that consumes a token moves the next one's start and the tokens are finite. Both readers of YAML files (the
// configuration and the synth scenarios) refuse such a text with its position before building any node.
#pragma once

#include <yaml-cpp/mark.h>
#include <yaml-cpp/node/node.h>

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace warmup::host {

struct YamlDocumentScan {
    std::vector<YAML::Mark> starts;  ///< the start of each document read, in order
    bool stuck = false;              ///< the last document started where the previous one did (LoadAll would hang)
};

/// Scans at most `max_documents` documents of `text`. Throws YAML::Exception for a plain syntax error. Costs one parse
/// of the text without building nodes.
YamlDocumentScan scan_yaml_documents(const std::string& text,
                                     std::size_t max_documents = std::numeric_limits<std::size_t>::max());

/// How a value reads in a message: the scalar quoted, or what kind of node it is ("a list", "a mapping", "nothing").
std::string describe_node(const YAML::Node& node);

}  // namespace warmup::host

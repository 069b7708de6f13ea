#include "config/yaml_documents.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/node/node.h>
#include <yaml-cpp/parser.h>

#include <sstream>

namespace warmup::host {
namespace {

/// Records where each document starts; ignores the content.
class DocumentStartRecorder final : public YAML::EventHandler {
  public:
    void OnDocumentStart(const YAML::Mark& mark) override { last_start = mark; }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}

    YAML::Mark last_start = YAML::Mark::null_mark();
};

}  // namespace

YamlDocumentScan scan_yaml_documents(const std::string& text, std::size_t max_documents) {
    YamlDocumentScan scan;
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    DocumentStartRecorder recorder;
    while (scan.starts.size() < max_documents && parser.HandleNextDocument(recorder)) {
        if (!scan.starts.empty() && recorder.last_start.pos == scan.starts.back().pos) {
            scan.stuck = true;
            break;
        }
        scan.starts.push_back(recorder.last_start);
    }
    return scan;
}

std::string describe_node(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Scalar:
            return "'" + node.Scalar() + "'";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Map:
            return "a mapping";
        default:
            return "nothing";
    }
}

}  // namespace warmup::host

// yaml-cpp's events to a tree with positions
// (libmesh/src/client/mesh_file_yaml.hpp).
#include "libmesh/src/client/mesh_file_yaml.hpp"

#include "libmesh/src/client/mesh_file_text.hpp"

#include <exception>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

namespace mesh {

namespace {

source_position to_position(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0)
    return {};
  return {static_cast<size_t>(mark.line) + 1,
          static_cast<size_t>(mark.column) + 1};
}

// Thrown by the builder to stop yaml-cpp early; never leaves this file.
struct stop_parsing {};

// Builds the tree of the first document from yaml-cpp's events. The stack
// holds the open collections, so building never recurses.
class tree_builder : public YAML::EventHandler {
public:
  std::optional<yaml_node> root;
  std::optional<source_position> second_document;
  std::optional<source_position> too_deep;

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > 1) {
      second_document = to_position(mark);
      throw stop_parsing{};
    }
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override {
    yaml_node node;
    node.pos = to_position(mark);
    add(std::move(node));
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    yaml_node node;
    node.type = yaml_node::kind::alias;
    node.pos = to_position(mark);
    add(std::move(node));
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                const std::string& value) override {
    yaml_node node;
    node.type = yaml_node::kind::scalar;
    node.pos = to_position(mark);
    node.tag = explicit_tag(tag);
    node.value = value;
    node.quoted = tag == "!";
    add(std::move(node));
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag,
                       YAML::anchor_t, YAML::EmitterStyle::value) override {
    open(yaml_node::kind::sequence, mark, tag);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag,
                  YAML::anchor_t, YAML::EmitterStyle::value) override {
    open(yaml_node::kind::mapping, mark, tag);
  }
  void OnMapEnd() override { close(); }

private:
  static std::string explicit_tag(const std::string& tag) {
    return tag == "?" || tag == "!" ? std::string{} : tag;
  }

  void open(yaml_node::kind type, const YAML::Mark& mark,
            const std::string& tag) {
    yaml_node node;
    node.type = type;
    node.pos = to_position(mark);
    node.tag = explicit_tag(tag);
    if (open_.size() >= max_nesting) {
      too_deep = node.pos;
      throw stop_parsing{};
    }
    open_.push_back(std::move(node));
  }

  void close() {
    if (open_.empty())
      return;
    auto node = std::move(open_.back());
    open_.pop_back();
    add(std::move(node));
  }

  void add(yaml_node node) {
    if (open_.empty()) {
      root = std::move(node);
      return;
    }
    auto& parent = open_.back();
    // An empty value has no position of its own (yaml-cpp marks the next
    // token): report problems with it at its key.
    if (parent.type == yaml_node::kind::mapping && parent.children.size() % 2 &&
        node.type == yaml_node::kind::null)
      node.pos = parent.children.back().pos;
    parent.children.push_back(std::move(node));
  }

  size_t documents_ = 0;
  std::vector<yaml_node> open_;
};

// A hint for the most common cause of yaml-cpp's indentation errors.
std::string tab_hint(std::string_view text, size_t line) {
  size_t start = 0;
  for (size_t i = 1; i < line && start != std::string_view::npos; ++i) {
    start = text.find('\n', start);
    if (start != std::string_view::npos)
      ++start;
  }
  if (start == std::string_view::npos)
    return {};
  auto end = text.find_first_not_of(" \t", start);
  auto indent =
    text.substr(start, end == std::string_view::npos ? std::string_view::npos
                                                     : end - start);
  if (indent.find('\t') != std::string_view::npos)
    return " (tabs are not allowed in YAML indentation; use spaces)";
  return {};
}

} // namespace

yaml_document parse_yaml(std::string_view text) {
  yaml_document result;
  auto problem = [&](source_position pos, std::string message) {
    result.problems.push_back({{}, pos.line, pos.column, std::move(message)});
  };
  tree_builder builder;
  // Whatever the input, yaml-cpp may only report, never throw past here.
  try {
    std::istringstream in{std::string{text}};
    YAML::Parser parser{in};
    if (parser.HandleNextDocument(builder))
      parser.HandleNextDocument(builder);
  } catch (const stop_parsing&) {
    // The builder recorded why.
  } catch (const YAML::Exception& e) {
    auto pos = to_position(e.mark);
    problem(pos, "YAML syntax error: " + mesh_file_text::sanitize(e.msg) +
                   tab_hint(text, pos.line));
  } catch (const std::exception& e) {
    problem({}, "cannot parse the file: " + mesh_file_text::sanitize(e.what()));
  } catch (...) {
    problem({}, "cannot parse the file");
  }
  if (builder.too_deep)
    problem(*builder.too_deep,
            fmt::format("nesting deeper than {} levels", max_nesting));
  if (builder.second_document)
    problem(*builder.second_document,
            "a mesh file holds one YAML document, but a second one starts "
            "here");
  if (result.problems.empty())
    result.root = std::move(builder.root);
  return result;
}

} // namespace mesh

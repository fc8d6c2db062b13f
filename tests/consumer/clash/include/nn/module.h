#pragma once
// The application's own nn/module.h, searched before tapegrad's headers (clash/main.cpp): a named
// plug-in of the application, nothing like tg::Module.

#include <string>
#include <utility>

class Module {
 public:
  explicit Module(std::string name) : name_(std::move(name)) {}
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

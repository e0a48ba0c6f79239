// recur.h compiles as C++ (c++ -std=c++11 -Wall -Wextra -Werror) and links: the
// declarations sit in extern "C" and use no C-only construct.
#include "recur.h"

#include <cstdio>
#include <cstring>

int main() {
    recur_model *model = nullptr;
    recur_status s = recur_model_open(nullptr, &model);
    if (s != RECUR_NULL_POINTER || model != nullptr) return 1;
    if (std::strcmp(recur_status_str(s), "RECUR_NULL_POINTER") != 0) return 1;
    if (std::strncmp(recur_last_error(), "recur_model_open:", 17) != 0) return 1;
    recur_state *states[1] = {nullptr};
    s = recur_step_many(model, states, 0, nullptr, 0, nullptr, 0);
    if (s != RECUR_NULL_POINTER) return 1;
    recur_model_free(model);
    recur_state_free(nullptr);
    std::printf("header_cpp: librecur %s from C++: 1 passed, 0 failed\n", recur_version());
    return 0;
}

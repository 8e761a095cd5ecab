// The test executable's main(): the same OpenBLAS kernels as the `deltacodec`
// executable the tests also run (deltacodec/blas_core.hpp), so what the library
// writes in-process and what the CLI writes are the same bytes; and the checks
// of that choice.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "deltacodec/blas_core.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;

// Caught on the old code: on a CPU that Debian 12's OpenBLAS does not know, the
// CLI ran lowrank on the generic "Prescott" kernels (7× slower sgemm here), and
// --version did not say which kernels it has.
TEST(BlasCore, CliRunsTheKernelsThisProcessRunsAndHonoursTheUsersChoice) {
    TempDir dir;
    const std::string core = blas_core_name();
    EXPECT_EQ(blas_core_upgrade(), nullptr) << core;  // main() upgraded this process already if it could
    const RunResult v = run_cli({"--version"}, dir.path());
    ASSERT_EQ(v.rc, 0) << v.err;
    EXPECT_NE(v.out.find("OpenBLAS " + core + " kernels"), std::string::npos) << v.out;
    // A user's OPENBLAS_CORETYPE is left alone.
    const RunResult p =
        run_command("OPENBLAS_CORETYPE=Prescott " + shell_quote(DELTACODEC_CLI) + " --version", dir.path());
    ASSERT_EQ(p.rc, 0) << p.err;
    EXPECT_NE(p.out.find("OpenBLAS Prescott kernels"), std::string::npos) << p.out;
}

int main(int argc, char** argv) {
    reexec_for_blas_core(argv);
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}

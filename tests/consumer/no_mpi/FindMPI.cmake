# On the module path of the consumers that do not ask for tapegrad's dist component (run.sh):
# find_package(tapegrad) must not look for MPI at all, so any find_package(MPI) ends here.
message(FATAL_ERROR "find_package(MPI) was called: the plain tapegrad package must not look for MPI")

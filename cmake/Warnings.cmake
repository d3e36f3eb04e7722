# ember_warnings(target): the warning set every Ember target is built with.
function(ember_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
endfunction()

%% term_codec on Erlang/OTP: term_to_binary / binary_to_term of the same messages as
%% bench/term_codec.cpp, printed under the same names with an erlang_ prefix.
%%   erlc term_codec.erl && erl -noshell -s term_codec main -s init stop
-module(term_codec).
-export([main/0]).

-define(REPS, 5).
-define(ITERS, 500000).

main() ->
    run("small", {seq, 12345}),
    run("1KiB", {data, binary:copy(<<"x">>, 1024)}).

run(Name, Msg) ->
    Enc = [time_ns(fun() -> encode_loop(Msg, ?ITERS) end) / ?ITERS || _ <- lists:seq(1, ?REPS)],
    report("erlang_term_codec_" ++ Name ++ "_encode", Enc),
    Bin = term_to_binary(Msg),
    Dec = [time_ns(fun() -> decode_loop(Bin, ?ITERS) end) / ?ITERS || _ <- lists:seq(1, ?REPS)],
    report("erlang_term_codec_" ++ Name ++ "_decode", Dec),
    io:format("erlang_term_codec_~s_bytes: ~p bytes~n", [Name, byte_size(Bin)]).

%% The results are summed so the compiler cannot drop a call whose value is unused.
encode_loop(Msg, N) -> encode_loop(Msg, N, 0).
encode_loop(_, 0, Acc) -> Acc;
encode_loop(Msg, N, Acc) -> encode_loop(Msg, N - 1, Acc + byte_size(term_to_binary(Msg))).

decode_loop(Bin, N) -> decode_loop(Bin, N, 0).
decode_loop(_, 0, Acc) -> Acc;
decode_loop(Bin, N, Acc) -> decode_loop(Bin, N - 1, Acc + tuple_size(binary_to_term(Bin))).

time_ns(F) ->
    T0 = erlang:monotonic_time(nanosecond),
    F(),
    erlang:monotonic_time(nanosecond) - T0.

report(Name, Values) ->
    Sorted = lists:sort(Values),
    Min = hd(Sorted),
    Median = lists:nth(length(Sorted) div 2 + 1, Sorted),
    io:format("# ~s: reps=~p min=~.3f median=~.3f max=~.3f ns~n", [Name, length(Sorted), Min, Median, lists:last(Sorted)]),
    io:format("~s: ~.1f ns~n", [Name, Min]).

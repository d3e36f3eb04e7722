%% The Savina micro-benchmarks of bench/savina.cpp, in Erlang, same sizes and names.
%%   erlc savina.erl && erl +S 2 -noshell -run savina main [pingpong ...] -s init stop
-module(savina).
-export([main/0, main/1, pingpong/0, counting/0, fjthrput/0, fjcreate/0, threadring/0,
         chameneos/0, big/0]).

main() -> main([]).
main([]) -> main(["big", "chameneos", "counting", "fjcreate", "fjthrput", "pingpong", "threadring"]);
main(Names) ->
    [run(N) || N <- Names],
    ok.

run(Name) ->
    F = list_to_atom(Name),
    Ms = lists:sort([time_ms(fun() -> ?MODULE:F() end) || _ <- [1, 2, 3]]),
    io:format("erlang_savina_~s_ms: ~.2f ms~n", [Name, lists:nth(2, Ms)]).

time_ms(F) ->
    Parent = self(),
    T0 = erlang:monotonic_time(microsecond),
    spawn(fun() -> F(), Parent ! done end),
    receive done -> ok end,
    (erlang:monotonic_time(microsecond) - T0) / 1000.

%% Ping-Pong: 40,000 exchanges.
pingpong() ->
    Pong = spawn(fun PongLoop() -> receive {ping, F} -> F ! pong, PongLoop(); stop -> ok end end),
    ping(Pong, 40000),
    Pong ! stop.
ping(_, 0) -> ok;
ping(P, N) -> P ! {ping, self()}, receive pong -> ping(P, N - 1) end.

%% Counting: 1,000,000 increments, then get.
counting() ->
    C = spawn(fun() -> count(0) end),
    [C ! inc || _ <- lists:seq(1, 1000000)],
    C ! {get, self()},
    receive 1000000 -> ok end.
count(N) -> receive inc -> count(N + 1); {get, F} -> F ! N end.

%% Fork-Join throughput: 60 workers x 10,000 messages, round-robin.
fjthrput() ->
    Main = self(),
    Ws = [spawn(fun() -> fj_worker(Main, 10000, 0.0, 0) end) || _ <- lists:seq(1, 60)],
    [[W ! msg || W <- Ws] || _ <- lists:seq(1, 10000)],
    [receive {done, _} -> ok end || _ <- Ws].
fj_worker(Main, N, Acc, N) -> Main ! {done, Acc};
fj_worker(Main, N, Acc, I) ->
    receive msg -> fj_worker(Main, N, Acc + math:sin(I) * math:cos(I), I + 1) end.

%% Fork-Join creation: 40,000 processes, one message each.
fjcreate() ->
    Main = self(),
    [spawn(fun() -> receive msg -> Main ! done end end) ! msg || _ <- lists:seq(1, 40000)],
    [receive done -> ok end || _ <- lists:seq(1, 40000)].

%% Thread Ring: 100 processes, 100,000 hops.
threadring() ->
    Main = self(),
    Ring = [spawn(fun() -> receive {next, Nx} -> ring(Nx, Main) end end) || _ <- lists:seq(1, 100)],
    [P ! {next, Nx} || {P, Nx} <- lists:zip(Ring, tl(Ring) ++ [hd(Ring)])],
    hd(Ring) ! {token, 100000},
    receive done -> ok end,
    [exit(P, kill) || P <- Ring].
ring(Next, Main) ->
    receive
        {token, 0} -> Main ! done, ring(Next, Main);
        {token, K} -> Next ! {token, K - 1}, ring(Next, Main)
    end.

%% Chameneos: 100 chameneos, 200,000 meetings at one mall.
chameneos() ->
    Main = self(),
    Mall = spawn(fun() -> mall(Main, 0, 0, none) end),
    [spawn(fun() -> chameneo(Mall, I rem 3) end) || I <- lists:seq(0, 99)],
    receive done -> ok end.
mall(Main, _Meetings, 100, _) -> Main ! done;
mall(Main, Meetings, Faded, Waiting) ->
    receive
        {meet, Who, _} when Meetings >= 200000 -> Who ! stop, mall(Main, Meetings, Faded + 1, Waiting);
        {meet, Who, C} when Waiting =:= none -> mall(Main, Meetings, Faded, {Who, C});
        {meet, Who, C} ->
            {W, Wc} = Waiting,
            Mixed = (C + Wc) rem 3,
            Who ! {mate, Mixed}, W ! {mate, Mixed},
            mall(Main, Meetings + 1, Faded, none)
    end.
chameneo(Mall, Colour) ->
    Mall ! {meet, self(), Colour},
    receive {mate, C} -> chameneo(Mall, C); stop -> ok end.

%% Big: 120 processes, 2,000 pings each to random peers.
big() ->
    Main = self(),
    All = [spawn(fun() -> receive {peers, Ps} -> big_init(Main, Ps) end end) || _ <- lists:seq(1, 120)],
    [P ! {peers, All} || P <- All],
    [receive done -> ok end || _ <- All],
    [P ! stop || P <- All].
big_init(Main, Peers) ->
    T = list_to_tuple(Peers),
    big_ping(T),
    big_loop(Main, T, 1, 0).
big_ping(T) -> element(rand:uniform(tuple_size(T)), T) ! {ping, self()}.
big_loop(Main, T, Sent, Pongs) ->
    receive
        stop -> ok;
        {ping, F} -> F ! pong, big_loop(Main, T, Sent, Pongs);
        pong ->
            P2 = Pongs + 1,
            P2 =:= 2000 andalso (Main ! done),
            case Sent < 2000 of
                true -> big_ping(T), big_loop(Main, T, Sent + 1, P2);
                false -> big_loop(Main, T, Sent, P2)
            end
    end.

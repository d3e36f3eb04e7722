%% supervisor_restart: a one_for_one supervisor's only child is killed; timed from the
%% kill until the restarted child has told us it runs (its start function sends its pid).
%% A fresh supervisor for each restart (not timed): OTP's restart bookkeeping walks the
%% restarts still within the period, so many in a row would measure that instead.
%% Ember's side: bench/gen_server_bench.hpp (the same loop).
-module(esup).
-behaviour(supervisor).
-export([init/1, start_child/1, restarts/1]).

init(Me) ->
    {ok, {#{strategy => one_for_one, intensity => 10, period => 1},
          [#{id => w, start => {?MODULE, start_child, [Me]}}]}}.

start_child(Me) ->
    Pid = spawn_link(fun() -> receive never -> ok end end),
    Me ! {child, Pid},
    {ok, Pid}.

%% Mean microseconds per restart over N restarts.
restarts(N) -> restarts(N, 0) / 1000 / N.

restarts(0, Ns) -> Ns;
restarts(K, Ns) ->
    {ok, Sup} = supervisor:start_link(?MODULE, self()),
    First = receive {child, P} -> P end,
    T0 = erlang:monotonic_time(nanosecond),
    exit(First, kill),
    receive {child, _} -> ok end,
    T1 = erlang:monotonic_time(nanosecond),
    gen_server:stop(Sup),
    restarts(K - 1, Ns + (T1 - T0)).

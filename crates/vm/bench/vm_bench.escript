#!/usr/bin/env escript
%% The same programs as fib.tern, ring.tern, pingpong.tern and procs.tern, on the BEAM.
%%   escript vm_bench.escript fib 30 | ring 10000 100 | pingpong 100000 | procs 100000
%% Prints one JSON line like the tern programs.
-mode(compile).

main(["fib", N]) ->
    Nn = list_to_integer(N),
    T0 = erlang:monotonic_time(millisecond),
    R = fib(Nn),
    Ms = erlang:monotonic_time(millisecond) - T0,
    io:format("{\"bench\":\"fib\",\"n\":~b,\"result\":~b,\"runtime\":\"erlang\",\"unit\":\"ms\",\"value\":~b}~n", [Nn, R, Ms]);
main(["ring", N, Laps]) ->
    Nn = list_to_integer(N), L = list_to_integer(Laps),
    Me = self(),
    T0 = erlang:monotonic_time(millisecond),
    Nodes = [spawn(fun() -> ring_node(Me) end) || _ <- lists:seq(1, Nn)],
    link_ring(Nodes, hd(Nodes)),
    hd(Nodes) ! Nn * L,
    receive done -> ok end,
    Ms = erlang:monotonic_time(millisecond) - T0,
    io:format("{\"bench\":\"ring\",\"laps\":~b,\"n\":~b,\"runtime\":\"erlang\",\"unit\":\"ms\",\"value\":~b}~n", [L, Nn, Ms]);
main(["procs", N]) ->
    Nn = list_to_integer(N),
    Me = self(),
    T0 = erlang:monotonic_time(millisecond),
    Pids = [spawn(fun() -> waiter(Me) end) || _ <- lists:seq(1, Nn)],
    T1 = erlang:monotonic_time(millisecond),
    [P ! {go, 1} || P <- Pids],
    Got = collect(Nn, 0),
    Ms = erlang:monotonic_time(millisecond) - T0,
    io:format("{\"bench\":\"procs\",\"n\":~b,\"runtime\":\"erlang\",\"spawn_ms\":~b,\"unit\":\"ms\",\"value\":~b}~n", [Got, T1 - T0, Ms]);
main(["pingpong", N]) ->
    Nn = list_to_integer(N),
    P = spawn(fun ponger/0),
    T0 = erlang:monotonic_time(millisecond),
    pinger(P, Nn),
    Ms = erlang:monotonic_time(millisecond) - T0,
    P ! stop,
    io:format("{\"bench\":\"pingpong\",\"n\":~b,\"runtime\":\"erlang\",\"unit\":\"ms\",\"value\":~b}~n", [Nn, Ms]).

waiter(Parent) -> receive {go, K} -> Parent ! K end.

collect(0, Sum) -> Sum;
collect(N, Sum) -> receive K -> collect(N - 1, Sum + K) end.

fib(N) when N < 2 -> N;
fib(N) -> fib(N - 1) + fib(N - 2).

ring_node(Main) -> receive {next, Next} -> node_loop(Next, Main) end.
node_loop(Next, Main) ->
    receive
        0 -> Main ! done;
        K -> Next ! K - 1, node_loop(Next, Main)
    end.

link_ring([Last], First) -> Last ! {next, First};
link_ring([A, B | Rest], First) -> A ! {next, B}, link_ring([B | Rest], First).

ponger() ->
    receive
        {ping, From} -> From ! pong, ponger();
        stop -> ok
    end.

pinger(_P, 0) -> ok;
pinger(P, K) -> P ! {ping, self()}, receive pong -> pinger(P, K - 1) end.

#!/usr/bin/env escript
%% -*- erlang -*-
%%! +P 4000000
%%
%% The Erlang/OTP side of `actor-bench`: the same five benchmarks, the same CLI, the same
%% one JSON line, so crates/scheduler/bench/run.sh can put them side by side.
%%
%%   escript actor_bench.escript spawn|ring|pingpong|fanout|timers N [M]
%%
%% Each benchmark mirrors src/bin/actor-bench.rs (read its module docs for the definitions).
-mode(compile).

main([Bench | Rest]) ->
    Nums = [list_to_integer(A) || A <- Rest],
    {N, M} = case {Bench, Nums} of
                 {_, [A, B | _]} -> {A, B};
                 {"ring", [A]} -> {A, 100};
                 {"fanout", [A]} -> {A, 100};
                 {_, [A]} -> {A, 0};
                 {"spawn", []} -> {1000000, 0};
                 {"ring", []} -> {10000, 100};
                 {"pingpong", []} -> {1000000, 0};
                 {"fanout", []} -> {10000, 100};
                 {"timers", []} -> {100000, 0}
             end,
    {Value, Unit, ElapsedUs, Extra} = run(Bench, N, M),
    io:format("{\"runtime\":\"erlang\",\"bench\":\"~s\",\"n\":~b,\"m\":~b,\"value\":~s,"
              "\"unit\":\"~s\",\"elapsed_ms\":~s,\"schedulers\":~b,\"otp\":\"~s\"~s}~n",
              [Bench, N, M, num(Value), Unit, num(ElapsedUs / 1000),
               erlang:system_info(schedulers), erlang:system_info(otp_release), Extra]);
main(_) ->
    io:format(standard_error, "usage: actor_bench.escript spawn|ring|pingpong|fanout|timers N [M]~n", []),
    halt(2).

num(X) -> float_to_list(float(X), [{decimals, 3}]).

now_us() -> erlang:monotonic_time(microsecond).

%% Resident set size in bytes, from /proc/self/status.
rss() ->
    {ok, Bin} = file:read_file("/proc/self/status"),
    [Line] = [L || L <- string:split(binary_to_list(Bin), "\n", all),
                   lists:prefix("VmRSS:", L)],
    [_, Kb | _] = string:lexemes(Line, " \t"),
    list_to_integer(Kb) * 1024.

wait(Tag) ->
    receive Tag -> ok after 600000 -> erlang:error({stalled, Tag}) end.

%% spawn N: spawn N processes that each wait for one message; send each one; each answers
%% and exits. Value: microseconds per spawn+exit; bytes_per_actor: RSS growth / N.
run("spawn", N, _) ->
    Main = self(),
    Before = rss(),
    T0 = now_us(),
    Spawner = spawn(fun() -> spawner(N, Main) end),
    wait(spawned),
    SpawnPhase = now_us() - T0,
    After = rss(),
    T1 = now_us(),
    Spawner ! go,
    wait(done),
    Elapsed = SpawnPhase + (now_us() - T1),
    {Elapsed / N, "us/spawn+exit", Elapsed,
     io_lib:format(",\"bytes_per_actor\":~b,\"spawn_phase_ms\":~s",
                   [round((After - Before) / N), num(SpawnPhase / 1000)])};

%% ring N M: N processes in a ring pass a token N*M hops. Value: messages/s.
run("ring", N, M) ->
    Main = self(),
    Pids = [spawn(fun() -> ring_node(Main) end) || _ <- lists:seq(1, N)],
    [First | _] = Pids,
    link_ring(Pids, First),
    Total = N * M,
    T0 = now_us(),
    First ! Total,
    wait(done),
    Elapsed = now_us() - T0,
    {Total / (Elapsed / 1.0e6), "msgs/s", Elapsed, ""};

%% pingpong N: two processes, N round trips. Value: round trips/s.
run("pingpong", N, _) ->
    Main = self(),
    Ponger = spawn(fun ponger/0),
    Pinger = spawn(fun() -> pinger(Main) end),
    T0 = now_us(),
    Pinger ! {Ponger, N},
    wait(done),
    Elapsed = now_us() - T0,
    {N / (Elapsed / 1.0e6), "roundtrips/s", Elapsed, ""};

%% fanout N M: one process sends to N processes, M rounds; each acks to a collector, which
%% starts the next round when all N acked. Value: messages/s (sends and acks).
run("fanout", N, M) ->
    Main = self(),
    Collector = spawn(fun() -> receive {fan, Fan} -> collect(N, N, M, Fan, Main) end end),
    Workers = [spawn(fun() -> fan_worker(Collector) end) || _ <- lists:seq(1, N)],
    Fan = spawn(fun() -> fan(Workers) end),
    Collector ! {fan, Fan},
    T0 = now_us(),
    Fan ! go,
    wait(done),
    Elapsed = now_us() - T0,
    {2 * N * M / (Elapsed / 1.0e6), "msgs/s", Elapsed, ""};

%% timers N: N processes each wait in a receive with a 10 ms timeout. Value: wall ms until
%% all timed out.
run("timers", N, _) ->
    Main = self(),
    T0 = now_us(),
    Collector = spawn(fun() -> count_down(N, Main) end),
    spawn(fun() -> [spawn(fun() -> sleeper(Collector) end) || _ <- lists:seq(1, N)] end),
    wait(done),
    Elapsed = now_us() - T0,
    {Elapsed / 1000, "ms", Elapsed, ""}.

spawner(N, Main) ->
    Parent = self(),
    Children = [spawn(fun() -> child(Parent) end) || _ <- lists:seq(1, N)],
    Main ! spawned,
    receive go -> ok end,
    [C ! go || C <- Children],
    count_children(N),
    Main ! done.

child(Parent) -> receive _ -> Parent ! child_done end.

count_children(0) -> ok;
count_children(K) -> receive child_done -> count_children(K - 1) end.

ring_node(Main) -> receive {next, Next} -> ring_loop(Next, Main) end.

ring_loop(Next, Main) ->
    receive
        0 -> Main ! done, ring_loop(Next, Main);
        K -> Next ! K - 1, ring_loop(Next, Main)
    end.

link_ring([Last], First) -> Last ! {next, First};
link_ring([A, B | Rest], First) -> A ! {next, B}, link_ring([B | Rest], First).

ponger() -> receive {From, I} -> From ! {self(), I}, ponger() end.

pinger(Main) ->
    receive
        {_, 0} -> Main ! done;
        {From, I} -> From ! {self(), I - 1}, pinger(Main)
    end.

collect(0, N, 1, _Fan, Main) -> Main ! done, collect(N, N, 0, _Fan, Main);
collect(0, N, Rounds, Fan, Main) -> Fan ! go, collect(N, N, Rounds - 1, Fan, Main);
collect(Left, N, Rounds, Fan, Main) -> receive ack -> collect(Left - 1, N, Rounds, Fan, Main) end.

fan_worker(Collector) -> receive _ -> Collector ! ack, fan_worker(Collector) end.

fan(Workers) -> receive go -> [W ! msg || W <- Workers], fan(Workers) end.

count_down(0, Main) -> Main ! done;
count_down(K, Main) -> receive done -> count_down(K - 1, Main) end.

sleeper(Collector) ->
    receive _ -> exit(unexpected) after 10 -> Collector ! done end.

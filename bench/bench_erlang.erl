%% The Erlang/OTP baseline of bench/suite.py: N `peer` nodes started and
%% stopped the way an Erlang user would, messaged with erpc and plain sends.
%% Speaks the suite's runner protocol, one command per line on stdin, one
%% reply per line on stdout (see bench/suite.py). Compiled by bench/run with
%% erlc; the peers load this module too (for the payload sink) through -pa.
%%
%%   erl -noshell -name bench_runner@127.0.0.1 -connect_all false -pa DIR \
%%       -run bench_erlang main
-module(bench_erlang).
-export([main/0, sink/1]).

main() ->
    loop(#{peers => [], totals => 0}).

loop(State) ->
    case io:get_line(standard_io, "") of
        eof ->
            stop_all(State),
            halt(0);
        {error, _} ->
            stop_all(State),
            halt(1);
        Line ->
            case string:lexemes(string:trim(Line), " ") of
                ["quit"] ->
                    stop_all(State),
                    halt(0);
                Words ->
                    {Reply, Next} =
                        try
                            command(Words, State)
                        catch
                            Class:Reason ->
                                {io_lib:format("err ~p:~p", [Class, Reason]),
                                 State}
                        end,
                    io:put_chars([Reply, "\n"]),
                    loop(Next)
            end
    end.

now_us() -> erlang:monotonic_time(microsecond).

ms(T0) -> (now_us() - T0) / 1000.

nodes_of(#{peers := Peers}) -> [Node || {_, Node} <- Peers].

%% Runs F(X) for every X at once; the results in the order of Xs.
pmap(F, Xs) ->
    Parent = self(),
    Refs = [begin
                Ref = make_ref(),
                spawn_link(fun() -> Parent ! {Ref, F(X)} end),
                Ref
            end || X <- Xs],
    [receive {Ref, Result} -> Result end || Ref <- Refs].

%% -connect_all false: the peers talk to this node only (a star, as
%% libmesh's procs do); with the default full mesh, 'global' tears down
%% connections among 128 peers "to prevent overlapping partitions".
peer_args() ->
    ["-kernel", "inet_dist_use_interface", "{127,0,0,1}",
     "-connect_all", "false",
     "-start_epmd", "false",
     "-pa", filename:dirname(code:which(?MODULE))].

command(["up", NText], State) ->
    N = list_to_integer(NText),
    T0 = now_us(),
    Peers = pmap(fun(_) ->
                         {ok, Pid, Node} =
                             peer:start(#{name => peer:random_name(bench),
                                          host => "127.0.0.1",
                                          longnames => true,
                                          %% Many nodes booting at once on
                                          %% two cores outlast the 15 s
                                          %% default.
                                          wait_boot => 120000,
                                          args => peer_args()}),
                         {Pid, Node}
                 end, lists:seq(1, N)),
    Ms = ms(T0),
    Next = State#{peers := Peers, totals := 0},
    Nodes = nodes_of(Next),
    ok = lists:foreach(fun(Node) -> ok = erpc:call(Node, ?MODULE, sink, [start])
                       end, Nodes),
    Pids = [erpc:call(Node, os, getpid, []) || Node <- Nodes],
    {io_lib:format("ok ms=~.3f pids=~s", [Ms, lists:join(",", Pids)]), Next};
command(["rtt", KText], State) ->
    [Node | _] = nodes_of(State),
    Samples = [begin
                   T0 = now_us(),
                   I = erpc:call(Node, erlang, abs, [I]),
                   now_us() - T0
               end || I <- lists:seq(1, list_to_integer(KText))],
    {io_lib:format("ok med_us=~.3f p99_us=~.3f",
                   [float(percentile(Samples, 50)),
                    float(percentile(Samples, 99))]), State};
command(["gather", KText], State) ->
    Nodes = nodes_of(State),
    Samples = [begin
                   T0 = now_us(),
                   Replies = erpc:multicall(Nodes, erlang, abs, [I]),
                   case [R || R <- Replies, R =/= {ok, I}] of
                       [] -> ok;
                       [Bad | _] -> error({bad_reply, Bad})
                   end,
                   now_us() - T0
               end || I <- lists:seq(1, list_to_integer(KText))],
    {io_lib:format("ok med_ms=~.3f", [percentile(Samples, 50) / 1000]), State};
command(["cast", SizeText, CountText], State = #{totals := Before}) ->
    Nodes = nodes_of(State),
    Payload = binary:copy(<<0>>, list_to_integer(SizeText)),
    T0 = now_us(),
    lists:foreach(fun(_) ->
                          [{bench_sink, Node} ! {data, Payload} || Node <- Nodes]
                  end, lists:seq(1, list_to_integer(CountText))),
    [{bench_sink, Node} ! {get, self()} || Node <- Nodes],
    After = lists:sum([receive {received, Node, Bytes} -> Bytes end
                       || Node <- Nodes]),
    Ms = ms(T0),
    {io_lib:format("ok ms=~.3f bytes=~b", [Ms, After - Before]),
     State#{totals := After}};
command(["down"], State) ->
    T0 = now_us(),
    stop_all(State),
    {io_lib:format("ok ms=~.3f", [ms(T0)]), State#{peers := [], totals := 0}};
command(Words, State) ->
    {io_lib:format("err unknown command ~p", [Words]), State}.

stop_all(#{peers := Peers}) ->
    pmap(fun({Pid, _}) -> peer:stop(Pid) end, Peers),
    ok.

%% The nearest-rank percentile of a list of samples.
percentile(Samples, P) ->
    Sorted = lists:sort(Samples),
    Rank = max(1, ceil(P / 100 * length(Sorted))),
    lists:nth(Rank, Sorted).

%% On a peer: the payload sink, registered as bench_sink. It counts the bytes
%% of every {data, Binary} and answers {get, From} with the count so far.
sink(start) ->
    Pid = spawn(fun() -> sink(0) end),
    true = register(bench_sink, Pid),
    ok;
sink(Count) ->
    receive
        {data, Bin} -> sink(Count + byte_size(Bin));
        {get, From} -> From ! {received, node(), Count}, sink(Count)
    end.

#!/usr/bin/env node
'use strict';
/**
 * A game-agent client in Node.js: one full game of connect_n against the service.
 *
 * The "human" side plays random legal moves (seeded); the agent side asks the
 * service for a move on each of its turns. Everything follows
 * docs/ENGINE_INTEGRATION.md: the stubs come from protos/game_agent/v1/agent.proto
 * (loaded at run time with @grpc/proto-loader), every call carries the
 * protocol-version metadata, turns are numbered from Session.next_turn, and a
 * turn whose call fails with UNAVAILABLE, DEADLINE_EXCEEDED or ABORTED is re-sent
 * with the same number (the server answers a repeat from its stored reply).
 *
 *   node play_connect_n.js --address 127.0.0.1:50051 \
 *       --game "connect_n(rows=6,cols=7,k=4,gravity=true)" --agent-seat 1 --seed 7
 *
 * Prints each move, the final board, and a last line `RESULT {...json...}`.
 */

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { ConnectN } = require('./connect_n');

const PROTOCOL_VERSION = 1;
const CLIENT_NAME = 'game-agent-node-example/0.1.0';
const RETRYABLE = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.ABORTED,
]);
const DEFAULTS = {
  address: '127.0.0.1:50051',
  game: 'connect_n(rows=6,cols=7,k=4,gravity=true)',
  player: 'node-example',
  agentSeat: 1,
  seed: 1,
  greedy: false,
  apiKey: process.env.GAME_AGENT_API_KEY || '',
  proto: path.join(__dirname, '..', '..', 'protos', 'game_agent', 'v1', 'agent.proto'),
  timeoutMs: 10000,
  retries: 3,
};
const USAGE = `usage: node play_connect_n.js [--address HOST:PORT] [--game SPEC] [--player ID]
       [--agent-seat 0|1] [--seed N] [--greedy] [--api-key KEY] [--proto PATH]`;

function parseArgs(argv) {
  const options = { ...DEFAULTS };
  const names = {
    '--address': 'address',
    '--game': 'game',
    '--player': 'player',
    '--agent-seat': 'agentSeat',
    '--seed': 'seed',
    '--api-key': 'apiKey',
    '--proto': 'proto',
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--greedy') {
      options.greedy = true;
    } else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (names[arg] !== undefined && i + 1 < argv.length) {
      options[names[arg]] = argv[(i += 1)];
    } else {
      throw new Error(`unknown or incomplete option ${arg}\n${USAGE}`);
    }
  }
  options.agentSeat = Number(options.agentSeat);
  options.seed = Number(options.seed);
  if (![0, 1].includes(options.agentSeat)) throw new Error('--agent-seat must be 0 or 1');
  if (!Number.isInteger(options.seed)) throw new Error('--seed must be an integer');
  return options;
}

/** mulberry32: a small seeded generator, so a game can be replayed exactly. */
function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class AgentConnection {
  constructor(options) {
    const definition = protoLoader.loadSync(options.proto, {
      keepCase: true, // field names exactly as in agent.proto (snake_case)
      longs: Number, // int64 fields (turn numbers, counts) as JavaScript numbers
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const { AgentService } = grpc.loadPackageDefinition(definition).game_agent.v1;
    this.client = new AgentService(options.address, grpc.credentials.createInsecure());
    this.metadata = new grpc.Metadata();
    this.metadata.set('x-game-agent-protocol', String(PROTOCOL_VERSION));
    if (options.apiKey) this.metadata.set('x-api-key', options.apiKey);
    this.options = options;
  }

  /** One unary call with a deadline; `retry` re-sends the same request on transient codes. */
  async call(method, request, { retry = true } = {}) {
    const attempts = retry ? this.options.retries + 1 : 1;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.callOnce(method, request);
      } catch (error) {
        if (attempt >= attempts || !RETRYABLE.has(error.code)) throw error;
        const delayMs = 100 * 2 ** (attempt - 1);
        console.error(`${method} failed (${error.details}); retrying in ${delayMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  callOnce(method, request) {
    const deadline = new Date(Date.now() + this.options.timeoutMs);
    return new Promise((resolve, reject) => {
      this.client[method](request, this.metadata, { deadline }, (error, response) => {
        if (error) reject(error);
        else resolve(response);
      });
    });
  }

  close() {
    this.client.close();
  }
}

function variantOf(session) {
  const p = session.game.parameters;
  return {
    rows: Number(p.rows),
    cols: Number(p.cols),
    k: Number(p.k),
    gravity: p.gravity === 'true',
  };
}

async function handshake(connection) {
  const info = await connection.call('GetServerInfo', {
    client_protocol_version: PROTOCOL_VERSION,
    client_name: CLIENT_NAME,
  });
  if (info.protocol_version < PROTOCOL_VERSION || info.min_client_protocol_version > PROTOCOL_VERSION) {
    throw new Error(
      `server speaks protocol ${info.protocol_version} (clients from ` +
        `${info.min_client_protocol_version}); this client speaks ${PROTOCOL_VERSION}`,
    );
  }
  console.log(
    `connected: server ${info.server_version}, protocol ${info.protocol_version}, ` +
      `capabilities ${info.capabilities.join(', ')}`,
  );
  return info;
}

async function playOneGame(connection, options) {
  // StartSession is not retried: a lost reply would leave an orphaned session behind.
  const session = await connection.call(
    'StartSession',
    {
      player_id: options.player,
      game: options.game,
      agent_seat: options.agentSeat,
      options: { greedy: options.greedy },
    },
    { retry: false },
  );
  const game = new ConnectN(variantOf(session));
  const seats = session.game.agents;
  const agentSeat = session.agent_seat;
  console.log(
    `session ${session.session_id}: ${session.game.spec}, agent plays ${seats[agentSeat]}, ` +
      `${session.returning_player ? 'returning' : 'new'} player, ` +
      `model ${session.model.learner} (${session.model.checkpoint})`,
  );
  const random = seededRandom(options.seed);
  let turn = session.next_turn;
  let agentMoves = 0;
  let playerMoves = 0;
  while (!game.over) {
    const mover = game.toMove;
    let action;
    if (mover === agentSeat) {
      const reply = await connection.call('Act', {
        session_id: session.session_id,
        turn,
        observation: game.observation(agentSeat),
        action_mask: game.actionMask(),
        reward: 0, // connect_n pays only when the game ends (see EndEpisode)
      });
      if (reply.turn !== turn) throw new Error(`asked turn ${turn}, answered ${reply.turn}`);
      turn += 1;
      action = reply.action;
      agentMoves += 1;
      const p = reply.action_probabilities[action].toFixed(3);
      game.play(action);
      console.log(
        `turn ${reply.turn}: agent  (${seats[mover]}) plays ${game.describe(action)}` +
          `  p=${p} value=${reply.value.toFixed(3)}${reply.replayed ? ' (replayed)' : ''}`,
      );
    } else {
      const legal = game.actionMask().flatMap((ok, a) => (ok ? [a] : []));
      action = legal[Math.floor(random() * legal.length)];
      playerMoves += 1;
      game.play(action);
      console.log(`         player (${seats[mover]}) plays ${game.describe(action)}`);
    }
  }
  let result = 'DRAW';
  let finalReward = 0;
  if (game.winner === agentSeat) {
    result = 'AGENT_WON';
    finalReward = 1;
  } else if (game.winner >= 0) {
    result = 'PLAYER_WON';
    finalReward = -1;
  }
  const ended = await connection.call('EndEpisode', {
    session_id: session.session_id,
    turn,
    final_reward: finalReward,
    result,
  });
  turn += 1;
  console.log(`${game.render()}\nresult: ${result}`);
  const closed = await connection.call('EndSession', { session_id: session.session_id }, { retry: false });
  return {
    session_id: session.session_id,
    player_id: session.player_id,
    game: session.game.spec,
    agent_seat: agentSeat,
    result,
    final_reward: finalReward,
    agent_moves: agentMoves,
    player_moves: playerMoves,
    turns_used: turn - session.next_turn,
    episodes_played: ended.profile.episodes_played,
    agent_wins: closed.profile.agent_wins,
  };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const connection = new AgentConnection(options);
  try {
    await handshake(connection);
    const summary = await playOneGame(connection, options);
    console.log(`RESULT ${JSON.stringify(summary)}`);
  } finally {
    connection.close();
  }
}

main().catch((error) => {
  const code = error.code !== undefined ? ` (gRPC status ${error.code})` : '';
  console.error(`play_connect_n: ${error.details || error.message}${code}`);
  process.exit(1);
});

'use strict';
/**
 * connect_n rules and the agent's observation, written from the rules table in
 * docs/ENGINE_INTEGRATION.md (no game-agent code is shared with the engine).
 *
 * The board is rows x cols, row 0 at the top. Cells hold 0 (empty), 1 (a stone
 * of seat 0, who moves first) or 2 (seat 1). With gravity an action is a column
 * and the stone falls to the lowest empty cell of it; without gravity an action
 * is a cell, numbered row * cols + col. The first to make k in a row
 * (horizontally, vertically or diagonally) wins; a full board is a draw.
 */

const DIRECTIONS = [
  [0, 1], // horizontal
  [1, 0], // vertical
  [1, 1], // diagonal down-right
  [1, -1], // diagonal down-left
];

class ConnectN {
  /** @param {{rows: number, cols: number, k: number, gravity: boolean}} variant */
  constructor({ rows, cols, k, gravity }) {
    this.rows = rows;
    this.cols = cols;
    this.k = k;
    this.gravity = gravity;
    this.cells = new Int8Array(rows * cols);
    this.toMove = 0;
    this.moves = 0;
    this.winner = -1; // the seat that completed a line, -1 for none (yet)
    this.over = false;
  }

  /** Number of actions: one per column with gravity, one per cell without. */
  get numActions() {
    return this.gravity ? this.cols : this.rows * this.cols;
  }

  at(row, col) {
    return this.cells[row * this.cols + col];
  }

  /** One boolean per action: true where the seat to move may play now. */
  actionMask() {
    const mask = new Array(this.numActions).fill(false);
    if (this.over) return mask;
    for (let a = 0; a < mask.length; a += 1) {
      mask[a] = this.gravity ? this.at(0, a) === 0 : this.cells[a] === 0;
    }
    return mask;
  }

  /**
   * The observation of `seat`: two planes of rows x cols float values, flattened
   * row-major ([plane][row][col]); plane 0 marks the seat's own stones with 1.0,
   * plane 1 the opponent's.
   */
  observation(seat) {
    const size = this.rows * this.cols;
    const values = new Array(2 * size).fill(0);
    for (let i = 0; i < size; i += 1) {
      const stone = this.cells[i];
      if (stone !== 0) values[(stone - 1 === seat ? 0 : 1) * size + i] = 1;
    }
    return { shape: [2, this.rows, this.cols], values };
  }

  /** Place a stone for the seat to move; returns the cell it landed on. */
  play(action) {
    if (!this.actionMask()[action]) {
      throw new Error(`action ${action} is not legal now`);
    }
    let row;
    let col;
    if (this.gravity) {
      col = action;
      row = this.rows - 1;
      while (this.at(row, col) !== 0) row -= 1;
    } else {
      row = Math.floor(action / this.cols);
      col = action % this.cols;
    }
    const seat = this.toMove;
    this.cells[row * this.cols + col] = seat + 1;
    this.moves += 1;
    if (this.completesLine(row, col)) {
      this.winner = seat;
      this.over = true;
    } else if (this.moves === this.rows * this.cols) {
      this.over = true;
    } else {
      this.toMove = 1 - seat;
    }
    return { row, col };
  }

  completesLine(row, col) {
    const stone = this.at(row, col);
    return DIRECTIONS.some(([dr, dc]) => {
      let run = 1;
      for (const sign of [1, -1]) {
        let r = row + sign * dr;
        let c = col + sign * dc;
        while (r >= 0 && r < this.rows && c >= 0 && c < this.cols && this.at(r, c) === stone) {
          run += 1;
          r += sign * dr;
          c += sign * dc;
        }
      }
      return run >= this.k;
    });
  }

  /** The board as text, row 0 first: X for seat 0, O for seat 1. */
  render() {
    const lines = [];
    for (let r = 0; r < this.rows; r += 1) {
      let line = '';
      for (let c = 0; c < this.cols; c += 1) line += '.XO'[this.at(r, c)];
      lines.push(line);
    }
    return lines.join('\n');
  }

  /** How an action reads to a person. */
  describe(action) {
    if (this.gravity) return `column ${action}`;
    return `row ${Math.floor(action / this.cols)} column ${action % this.cols}`;
  }
}

module.exports = { ConnectN };

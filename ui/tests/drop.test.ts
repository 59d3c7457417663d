import { strict as assert } from "node:assert";
import { test } from "node:test";
import { fileKind, fromFile, fromPlainText, fromStrings, fromUriList } from "../drop.ts";

test("a uri-list gives its http(s) lines, comments and other schemes skipped", () => {
  const list = "# a comment\r\nhttp://h/a.mkv\r\nfile:///etc/passwd\r\njavascript:alert(1)\r\nhttps://h/b.mp4\r\nhttp://h/a.mkv\r\n";
  assert.deepEqual(fromUriList(list), ["http://h/a.mkv", "https://h/b.mp4"]);
});

test("plain text gives the URLs it holds", () => {
  assert.deepEqual(fromPlainText("  https://h/v.webm\n"), ["https://h/v.webm"]);
  assert.deepEqual(fromPlainText("just words"), []);
  assert.deepEqual(fromPlainText("data:text/html,hi"), []);
});

test("the uri-list wins over the text of the same drag", () => {
  assert.deepEqual(fromStrings("http://h/a", "Link title"), ["http://h/a"]);
  assert.deepEqual(fromStrings("", "http://h/b"), ["http://h/b"]);
  assert.deepEqual(fromStrings("", ""), []);
});

test("m3u playlists give their http entries in order", () => {
  const m3u = "\uFEFF#EXTM3U\n#EXTINF:10,One\nhttp://h/1.mp3\nrelative/2.mp3\n#EXTINF:10,Three\nhttps://h/3.mp3\n";
  assert.deepEqual(fromFile("List.M3U", m3u), ["http://h/1.mp3", "https://h/3.mp3"]);
});

test("internet shortcuts give their URL", () => {
  const url = "[InternetShortcut]\r\nURL=https://h/film.mkv\r\nIconIndex=0\r\n";
  assert.deepEqual(fromFile("film.url", url), ["https://h/film.mkv"]);
  assert.deepEqual(fromFile("x.url", "[Other]\nURL=http://h/\n"), []);
  assert.deepEqual(fromFile("x.url", "[InternetShortcut]\nURL=file:///etc/passwd\n"), []);
});

test("other files are not read", () => {
  assert.equal(fileKind("film.mkv"), null);
  assert.equal(fileKind("a.m3u8"), "m3u");
  assert.deepEqual(fromFile("notes.txt", "http://h/a"), []);
});

package web_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// A headless Chromium driven as a person drives it: the DevTools protocol over the
// pipe Chromium opens with --remote-debugging-pipe (fd 3 in, fd 4 out, messages
// ended by NUL), so nothing listens on a port and nothing is added to go.mod. The
// page is clicked with mouse events at an element's place on the screen and typed
// into with the keyboard, as a person would; assertions read the DOM.

type browserPage struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      *os.File // Chromium reads commands here
	session string

	mu      sync.Mutex
	next    int
	pending map[int]chan cdpReply
	dead    chan struct{}
}

type cdpReply struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// openBrowser starts Chromium with one blank tab of width×height pixels.
func openBrowser(t *testing.T, bin string, width, height int) *browserPage {
	t.Helper()
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-pipe",
		// The tab is never in the background: no throttled timers or frames (a
		// screenshot waits for a frame; app.js reloads the page on a timer).
		"--disable-renderer-backgrounding", "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows",
		"--user-data-dir="+t.TempDir(), fmt.Sprintf("--window-size=%d,%d", width, height), "about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, outW} // fd 3, fd 4
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	cmdR.Close()
	outW.Close()
	p := &browserPage{t: t, cmd: cmd, in: cmdW, pending: map[int]chan cdpReply{}, dead: make(chan struct{})}
	go func() { // replies; events are not needed (the page is polled)
		defer close(p.dead)
		rd := bufio.NewReader(outR)
		for {
			msg, err := rd.ReadBytes(0)
			if err != nil {
				return
			}
			var r cdpReply
			if json.Unmarshal(msg[:len(msg)-1], &r) != nil || r.ID == 0 {
				continue
			}
			p.mu.Lock()
			ch := p.pending[r.ID]
			delete(p.pending, r.ID)
			p.mu.Unlock()
			if ch != nil {
				ch <- r
			}
		}
	}()
	t.Cleanup(func() {
		_, _ = p.call("Browser.close", nil)
		cmdW.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		outR.Close()
		if t.Failed() {
			t.Logf("chromium's stderr:\n%s", stderr.String())
		}
	})
	var target struct {
		TargetID string `json:"targetId"`
	}
	p.do("Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct {
		SessionID string `json:"sessionId"`
	}
	p.do("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	p.session = att.SessionID
	p.do("Page.bringToFront", nil, nil)
	p.do("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
	return p
}

// call sends one command (to the tab once attached) and waits for its reply.
func (p *browserPage) call(method string, params any) (json.RawMessage, error) {
	p.mu.Lock()
	p.next++
	id := p.next
	ch := make(chan cdpReply, 1)
	p.pending[id] = ch
	p.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if params == nil {
		msg["params"] = map[string]any{}
	}
	if p.session != "" && !strings.HasPrefix(method, "Target.") && !strings.HasPrefix(method, "Browser.") {
		msg["sessionId"] = p.session
	}
	b, _ := json.Marshal(msg)
	if _, err := p.in.Write(append(b, 0)); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		return r.Result, nil
	case <-p.dead:
		return nil, fmt.Errorf("%s: chromium is gone", method)
	case <-time.After(3 * time.Minute): // generous: the machine may be loaded
		return nil, fmt.Errorf("%s: no reply in 3 min", method)
	}
}

// do sends one command and decodes its reply into out (nil: ignored).
func (p *browserPage) do(method string, params, out any) {
	p.t.Helper()
	raw, err := p.call(method, params)
	if err != nil {
		p.t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			p.t.Fatalf("%s: decode %s: %v", method, raw, err)
		}
	}
}

// eval runs a JavaScript expression in the page and decodes its value into out.
func (p *browserPage) eval(expr string, out any) error {
	raw, err := p.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	if r.Exception != nil {
		return fmt.Errorf("%s: %s %s", expr, r.Exception.Text, r.Exception.Exception.Description)
	}
	if out == nil || len(r.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

// waitFor polls a JavaScript condition until it holds (a page being replaced
// answers with errors meanwhile, which count as "not yet").
func (p *browserPage) waitFor(what, cond string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		var ok bool
		if last = p.eval("!!("+cond+")", &ok); last == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var url, text string
			_ = p.eval("location.href", &url)
			_ = p.eval("document.body ? document.body.innerText.slice(0, 2000) : ''", &text)
			p.t.Fatalf("after %s: %s (%s) is still false (%v) at %s:\n%s", timeout, what, cond, last, url, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// navigate opens url, as typed in the address bar, and waits for it to load.
func (p *browserPage) navigate(url string) {
	p.t.Helper()
	p.do("Page.navigate", map[string]any{"url": url}, nil)
	p.waitFor("load "+url, fmt.Sprintf(`document.readyState === "complete" && location.href.startsWith(%q)`, url), 2*time.Minute)
}

// center scrolls the element into view and returns the middle of its box on screen.
func (p *browserPage) center(selector string) (x, y float64) {
	p.t.Helper()
	var xy []float64
	err := p.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return null;
		e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect();
		return r.width > 0 && r.height > 0 ? [r.x + r.width / 2, r.y + r.height / 2] : null; })()`, selector), &xy)
	if err != nil || len(xy) != 2 {
		p.t.Fatalf("no visible %s on the page (%v)", selector, err)
	}
	return xy[0], xy[1]
}

// click presses and releases the left mouse button over the element.
func (p *browserPage) click(selector string) {
	p.t.Helper()
	x, y := p.center(selector)
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		p.do("Input.dispatchMouseEvent", map[string]any{"type": typ, "x": x, "y": y, "button": "left", "clickCount": 1}, nil)
	}
}

// typeInto clicks into a text field, selects what it holds and types text over it,
// one key at a time.
func (p *browserPage) typeInto(selector, text string) {
	p.t.Helper()
	p.click(selector)
	p.key("a", "KeyA", 65, 2) // Ctrl+A: what the field held is replaced
	for _, r := range text {
		p.do("Input.dispatchKeyEvent", map[string]any{"type": "keyDown", "text": string(r), "unmodifiedText": string(r), "key": string(r)}, nil)
		p.do("Input.dispatchKeyEvent", map[string]any{"type": "keyUp", "key": string(r)}, nil)
	}
	var got string
	if err := p.eval(fmt.Sprintf(`document.querySelector(%q).value`, selector), &got); err != nil || got != text {
		p.t.Fatalf("typed %q into %s, it holds %q (%v)", text, selector, got, err)
	}
}

// key presses one key (modifiers: 2 = Ctrl).
func (p *browserPage) key(key, code string, keyCode, modifiers int) {
	p.t.Helper()
	for _, typ := range []string{"rawKeyDown", "keyUp"} {
		p.do("Input.dispatchKeyEvent", map[string]any{"type": typ, "key": key, "code": code,
			"windowsVirtualKeyCode": keyCode, "nativeVirtualKeyCode": keyCode, "modifiers": modifiers}, nil)
	}
}

// choose picks the option whose text is label in a drop-down, with the keyboard as
// a person does without opening it: focus it (a click on it), then arrow keys until
// that option is the chosen one.
func (p *browserPage) choose(selector, label string) {
	p.t.Helper()
	var n int
	if err := p.eval(fmt.Sprintf(`[...document.querySelector(%q).options].findIndex(o => o.text === %q)`, selector, label), &n); err != nil || n < 0 {
		p.t.Fatalf("%s offers no %q (%v)", selector, label, err)
	}
	if err := p.eval(fmt.Sprintf(`document.querySelector(%q).focus()`, selector), nil); err != nil {
		p.t.Fatal(err)
	}
	p.key("Home", "Home", 36, 0)
	for i := 0; ; i++ {
		var at int
		if err := p.eval(fmt.Sprintf(`document.querySelector(%q).selectedIndex`, selector), &at); err != nil {
			p.t.Fatal(err)
		}
		if at == n {
			return
		}
		if i > 50 {
			p.t.Fatalf("%s: the arrow keys do not reach %q (at option %d)", selector, label, at)
		}
		p.key("ArrowDown", "ArrowDown", 40, 0)
	}
}

// screenshot saves the page as PNG, height pixels of it from the top.
func (p *browserPage) screenshot(file string, width, height int) {
	p.t.Helper()
	// The focus stays where it is: a field losing it would let app.js reload the page
	// (it waits while someone types) and empty a form being filled in.
	_ = p.eval("window.scrollTo(0, 0)", nil)
	p.do("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
	var shot struct {
		Data string `json:"data"`
	}
	p.do("Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	b, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// text is the page's visible text.
func (p *browserPage) text() string {
	p.t.Helper()
	var s string
	if err := p.eval("document.body.innerText", &s); err != nil {
		p.t.Fatal(err)
	}
	return s
}

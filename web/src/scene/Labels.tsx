// Entity labels as DOM text over the canvas (crisp at any zoom), repositioned a dozen
// times a second from the boxes labelling.ts places; a small fixed pool of elements.
import { useEffect, useRef } from "react";
import type { LabelItem } from "./labelling";

const POOL = 80;

export function Labels({ items }: { items: React.RefObject<LabelItem[]> }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let frame = 0;
    const pool: HTMLDivElement[] = [];
    for (let i = 0; i < POOL; i++) {
      const el = document.createElement("div");
      el.className = "label";
      el.style.display = "none";
      host.current!.appendChild(el);
      pool.push(el);
    }
    const draw = () => {
      const list = items.current ?? [];
      for (let i = 0; i < POOL; i++) {
        const el = pool[i];
        const item = list[i];
        if (!item) { el.style.display = "none"; continue; }
        el.style.display = "block";
        el.dataset.kind = item.kind;
        el.dataset.id = item.id;
        el.dataset.ids = item.ids.join(" ");
        if (el.textContent !== item.text) el.textContent = item.text;
        // Whole pixels: each label is its own compositor layer (styles.css), and a layer at
        // a fractional offset is resampled, which blurs its text.
        el.style.transform = `translate(${Math.round(item.left)}px, ${Math.round(item.top)}px)`;
      }
      frame = requestAnimationFrame(draw);
    };
    frame = requestAnimationFrame(draw);
    return () => { cancelAnimationFrame(frame); pool.forEach((el) => el.remove()); };
  }, [items]);
  return <div className="labels" ref={host} aria-hidden="true" data-testid="labels" />;
}

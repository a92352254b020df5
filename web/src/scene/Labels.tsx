// Entity labels as DOM text over the canvas (crisp at any zoom), repositioned a dozen
// times a second from positions the scene computes; a small fixed pool of elements.
import { useEffect, useRef } from "react";

export interface LabelItem {
  id: string;
  text: string;
  x: number;
  y: number;
  kind: "selected" | "hovered" | "near";
}

const POOL = 32;

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
        if (el.textContent !== item.text) el.textContent = item.text;
        el.style.transform = `translate(${item.x.toFixed(1)}px, ${item.y.toFixed(1)}px) translate(-50%, -100%)`;
      }
      frame = requestAnimationFrame(draw);
    };
    frame = requestAnimationFrame(draw);
    return () => { cancelAnimationFrame(frame); pool.forEach((el) => el.remove()); };
  }, [items]);
  return <div className="labels" ref={host} aria-hidden="true" />;
}
